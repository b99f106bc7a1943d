// The implementation of cdicom_results.h. GDCM holds the data sets and encodes them (explicit VR
// little endian, Part 10 with its file meta information); this file decides what goes in them.
#include "cdicom_results.h"
#include "gdcm_values.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <gdcmDataSet.h>
#include <gdcmGlobal.h>
#include <gdcmDicts.h>
#include <gdcmItem.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmWriter.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

namespace {

using gdcm::Tag;
using gdcm::VR;

using cdicom::set_error;
using cdicom::trimmed;
using cdicom::whole_value;

std::string text(const char *value) { return value ? std::string(value) : std::string(); }

/// A string element, padded to even length as the standard asks (UIs with NUL, the rest with a space).
void put(gdcm::DataSet &dataset, Tag tag, VR vr, const std::string &value) {
  std::string padded = value;
  if (padded.size() % 2) padded.push_back(vr == VR::UI ? '\0' : ' ');
  gdcm::DataElement element(tag);
  element.SetVR(vr);
  element.SetByteValue(padded.data(), static_cast<uint32_t>(padded.size()));
  dataset.Replace(element);
}

void put_us(gdcm::DataSet &dataset, Tag tag, uint16_t value) {
  const char bytes[2] = {static_cast<char>(value & 0xff), static_cast<char>(value >> 8)};
  gdcm::DataElement element(tag);
  element.SetVR(VR::US);
  element.SetByteValue(bytes, 2);
  dataset.Replace(element);
}

void put_sequence(gdcm::DataSet &dataset, Tag tag, const std::vector<gdcm::DataSet> &items) {
  gdcm::SmartPointer<gdcm::SequenceOfItems> sequence = new gdcm::SequenceOfItems();
  sequence->SetLengthToUndefined();
  for (const gdcm::DataSet &nested : items) {
    gdcm::Item item;
    item.SetVLToUndefined();
    item.SetNestedDataSet(nested);
    sequence->AddItem(item);
  }
  gdcm::DataElement element(tag);
  element.SetVR(VR::SQ);
  element.SetValue(*sequence);
  element.SetVLToUndefined();
  dataset.Replace(element);
}

gdcm::DataSet code(const cdcm_code &name) {
  gdcm::DataSet item;
  put(item, Tag(0x0008, 0x0100), VR::SH, text(name.value));
  put(item, Tag(0x0008, 0x0102), VR::SH, text(name.scheme));
  put(item, Tag(0x0008, 0x0104), VR::LO, text(name.meaning));
  return item;
}

cdcm_code dcm(const char *value, const char *meaning) { return {value, "DCM", meaning}; }

std::string date_now(const std::tm &now) {
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%Y%m%d", &now);
  return buffer;
}

std::string time_now(const std::tm &now) {
  char buffer[16];
  std::strftime(buffer, sizeof buffer, "%H%M%S", &now);
  return buffer;
}

std::tm local_now() {
  std::time_t seconds = std::time(nullptr);
  std::tm now{};
  localtime_r(&seconds, &now);
  return now;
}

/// Attributes copied from the source when it has them; `required` ones (type 2) are written empty
/// when it does not.
struct Copied {
  uint16_t group, element;
  VR vr;
  bool required;
};

// Patient module, General Study module, and the parts of Patient Study worth keeping.
const Copied patient_and_study[] = {
    {0x0010, 0x0010, VR::PN, true},   // Patient's Name
    {0x0010, 0x0020, VR::LO, true},   // Patient ID
    {0x0010, 0x0021, VR::LO, false},  // Issuer of Patient ID
    {0x0010, 0x0030, VR::DA, true},   // Patient's Birth Date
    {0x0010, 0x0040, VR::CS, true},   // Patient's Sex
    {0x0010, 0x1010, VR::AS, false},  // Patient's Age
    {0x0008, 0x0020, VR::DA, true},   // Study Date
    {0x0008, 0x0030, VR::TM, true},   // Study Time
    {0x0008, 0x0090, VR::PN, true},   // Referring Physician's Name
    {0x0020, 0x0010, VR::SH, true},   // Study ID
    {0x0008, 0x0050, VR::SH, true},   // Accession Number
    {0x0008, 0x1030, VR::LO, false},  // Study Description
};

/// The source's data set, parsed again (it was decoded before; see cdicom_results.h).
struct Source {
  gdcm::DataSet dataset;
  std::string sop_class, sop_instance, series, study;
};

bool read_source(const uint8_t *data, size_t size, Source &source, std::string &failure) {
  std::istringstream stream(std::string(reinterpret_cast<const char *>(data), size));
  gdcm::Reader reader;
  reader.SetStream(stream);
  if (!reader.Read()) {
    failure = "the source image cannot be parsed as DICOM";
    return false;
  }
  source.dataset = reader.GetFile().GetDataSet();
  source.sop_class = whole_value(source.dataset, Tag(0x0008, 0x0016));
  source.sop_instance = whole_value(source.dataset, Tag(0x0008, 0x0018));
  source.series = whole_value(source.dataset, Tag(0x0020, 0x000E));
  source.study = whole_value(source.dataset, Tag(0x0020, 0x000D));
  if (source.sop_class.empty() || source.sop_instance.empty()) {
    failure = "the source image has no SOP Class or SOP Instance UID, so a result cannot reference it";
    return false;
  }
  return true;
}

bool has_non_ascii(const std::string &value) {
  for (unsigned char c : value) {
    if (c >= 0x80) return true;
  }
  return false;
}

/// SOP Common, Patient, General Study, the series and the equipment: what both result kinds share.
void common_attributes(gdcm::DataSet &out, const Source &source, const cdcm_result_identity &identity,
                       const char *sop_class, const char *modality, bool needs_utf8, const std::tm &now) {
  std::string charset = whole_value(source.dataset, Tag(0x0008, 0x0005));
  if (!charset.empty()) {
    put(out, Tag(0x0008, 0x0005), VR::CS, charset);
  } else if (needs_utf8) {
    put(out, Tag(0x0008, 0x0005), VR::CS, "ISO_IR 192");
  }
  put(out, Tag(0x0008, 0x0016), VR::UI, sop_class);
  put(out, Tag(0x0008, 0x0018), VR::UI, text(identity.sop_instance_uid));
  put(out, Tag(0x0008, 0x0012), VR::DA, date_now(now));  // Instance Creation Date
  put(out, Tag(0x0008, 0x0013), VR::TM, time_now(now));
  for (const Copied &copied : patient_and_study) {
    Tag tag(copied.group, copied.element);
    std::string value = whole_value(source.dataset, tag);
    if (!value.empty() || copied.required) put(out, tag, copied.vr, value);
  }
  put(out, Tag(0x0020, 0x000D), VR::UI,
      source.study.empty() ? text(identity.fallback_study_instance_uid) : source.study);
  put(out, Tag(0x0008, 0x0060), VR::CS, modality);
  put(out, Tag(0x0020, 0x000E), VR::UI, text(identity.series_instance_uid));
  put(out, Tag(0x0020, 0x0011), VR::IS, std::to_string(identity.series_number));
  put(out, Tag(0x0008, 0x103E), VR::LO, text(identity.series_description));
  put(out, Tag(0x0008, 0x0070), VR::LO, text(identity.manufacturer));  // General Equipment
  put(out, Tag(0x0008, 0x1090), VR::LO, text(identity.model_name));
  put(out, Tag(0x0018, 0x1020), VR::LO, text(identity.software_version));
  put(out, Tag(0x0020, 0x0013), VR::IS, "1");  // Instance Number
  put(out, Tag(0x0008, 0x0023), VR::DA, date_now(now));  // Content Date and Time
  put(out, Tag(0x0008, 0x0033), VR::TM, time_now(now));
}

/// A reference to the source image: Referenced SOP Class and Instance UIDs.
gdcm::DataSet image_reference(const Source &source) {
  gdcm::DataSet item;
  put(item, Tag(0x0008, 0x1150), VR::UI, source.sop_class);
  put(item, Tag(0x0008, 0x1155), VR::UI, source.sop_instance);
  return item;
}

/// The Part 10 file of a data set.
bool encode(const gdcm::DataSet &dataset, uint8_t **output, size_t *output_size, std::string &failure) {
  gdcm::Writer writer;
  writer.GetFile().SetDataSet(dataset);
  gdcm::FileMetaInformation &meta = writer.GetFile().GetHeader();
  meta.SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  std::ostringstream stream;
  writer.SetStream(stream);
  if (!writer.Write()) {
    failure = "GDCM could not encode the data set";
    return false;
  }
  std::string bytes = stream.str();
  *output = static_cast<uint8_t *>(std::malloc(bytes.size()));
  if (!*output) {
    failure = "out of memory";
    return false;
  }
  std::memcpy(*output, bytes.data(), bytes.size());
  *output_size = bytes.size();
  return true;
}

// MARK: SR content items (PS3.3 C.17.3)

struct ContentItem {
  gdcm::DataSet dataset;

  ContentItem(const char *relationship, const char *value_type, const cdcm_code *name) {
    if (relationship) put(dataset, Tag(0x0040, 0xA010), VR::CS, relationship);
    put(dataset, Tag(0x0040, 0xA040), VR::CS, value_type);
    if (name) put_sequence(dataset, Tag(0x0040, 0xA043), {code(*name)});
  }
};

ContentItem container(const char *relationship, cdcm_code name, const std::vector<gdcm::DataSet> &children) {
  ContentItem item(relationship, "CONTAINER", &name);
  put(item.dataset, Tag(0x0040, 0xA050), VR::CS, "SEPARATE");  // Continuity of Content
  put_sequence(item.dataset, Tag(0x0040, 0xA730), children);
  return item;
}

gdcm::DataSet code_item(const char *relationship, cdcm_code name, cdcm_code value) {
  ContentItem item(relationship, "CODE", &name);
  put_sequence(item.dataset, Tag(0x0040, 0xA168), {code(value)});
  return item.dataset;
}

gdcm::DataSet text_item(const char *relationship, cdcm_code name, const std::string &value) {
  ContentItem item(relationship, "TEXT", &name);
  put(item.dataset, Tag(0x0040, 0xA160), VR::UT, value);
  return item.dataset;
}

gdcm::DataSet uid_item(const char *relationship, cdcm_code name, const std::string &value) {
  ContentItem item(relationship, "UIDREF", &name);
  put(item.dataset, Tag(0x0040, 0xA124), VR::UI, value);
  return item.dataset;
}

gdcm::DataSet image_item(const char *relationship, const cdcm_code *name, const Source &source) {
  ContentItem item(relationship, "IMAGE", name);
  put_sequence(item.dataset, Tag(0x0008, 0x1199), {image_reference(source)});
  return item.dataset;
}

/// A decimal string of at most 16 characters (DS's limit).
std::string decimal(double value) {
  char buffer[32];
  for (int digits = 10; digits > 0; --digits) {
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    if (std::strlen(buffer) <= 16) break;
  }
  return buffer;
}

gdcm::DataSet number_item(const char *relationship, cdcm_code name, double value, cdcm_code units,
                          const std::vector<gdcm::DataSet> &children) {
  ContentItem item(relationship, "NUM", &name);
  gdcm::DataSet measured;
  put_sequence(measured, Tag(0x0040, 0x08EA), {code(units)});
  put(measured, Tag(0x0040, 0xA30A), VR::DS, decimal(value));
  put_sequence(item.dataset, Tag(0x0040, 0xA300), {measured});
  if (!children.empty()) put_sequence(item.dataset, Tag(0x0040, 0xA730), children);
  return item.dataset;
}

/// The C API's error convention around `build`: 0 when it succeeds; otherwise 1 and the message —
/// its own (`failure`) or GDCM's exception's.
template <typename Build>
int as_c_result(char *error, size_t error_size, Build build) {
  try {
    std::string failure;
    if (build(failure)) return 0;
    set_error(error, error_size, failure);
  } catch (const std::exception &exception) {
    set_error(error, error_size, std::string("GDCM failed: ") + exception.what());
  } catch (...) {
    set_error(error, error_size, "GDCM failed with an unknown exception");
  }
  return 1;
}

bool sr_is_valid(const cdcm_result_identity *identity, const cdcm_sr_content *content, std::string &failure) {
  if (!identity || !content || !identity->sop_instance_uid || !identity->series_instance_uid) {
    failure = "the result has no UIDs";
    return false;
  }
  if (content->class_count == 0 || content->predicted >= content->class_count || !content->findings ||
      !content->probability_concepts || !content->probabilities) {
    failure = "the result names no classes, or a predicted class outside them";
    return false;
  }
  return true;
}

}  // namespace

extern "C" {

int cdcm_make_sr(const uint8_t *source_data, size_t source_size, const cdcm_result_identity *identity,
                 const cdcm_sr_content *content, uint8_t **output, size_t *output_size, char *error,
                 size_t error_size) {
  *output = nullptr;
  *output_size = 0;
  return as_c_result(error, error_size, [&](std::string &failure) {
    Source source;
    if (!sr_is_valid(identity, content, failure) || !read_source(source_data, source_size, source, failure)) {
      return false;
    }
    bool needs_utf8 = false;
    for (size_t i = 0; i < content->class_count; ++i) {
      needs_utf8 = needs_utf8 || has_non_ascii(text(content->findings[i].meaning)) ||
                   has_non_ascii(text(content->probability_concepts[i].meaning));
    }
    const std::tm now = local_now();
    gdcm::DataSet out;
    // Comprehensive SR Storage.
    common_attributes(out, source, *identity, "1.2.840.10008.5.1.4.1.1.88.33", "SR", needs_utf8, now);
    put_sequence(out, Tag(0x0008, 0x1111), {});  // Referenced Performed Procedure Step Sequence (type 2)

    // SR Document General: an unverified, complete machine result, and the evidence it used.
    put(out, Tag(0x0040, 0xA491), VR::CS, "COMPLETE");
    put(out, Tag(0x0040, 0xA493), VR::CS, "UNVERIFIED");
    put_sequence(out, Tag(0x0040, 0xA372), {});  // Performed Procedure Code Sequence (type 2)
    {
      gdcm::DataSet series;
      put(series, Tag(0x0020, 0x000E), VR::UI, source.series);
      put_sequence(series, Tag(0x0008, 0x1199), {image_reference(source)});
      gdcm::DataSet study;
      put(study, Tag(0x0020, 0x000D), VR::UI,
          source.study.empty() ? text(identity->fallback_study_instance_uid) : source.study);
      put_sequence(study, Tag(0x0008, 0x1115), {series});
      put_sequence(out, Tag(0x0040, 0xA375), {study});  // Current Requested Procedure Evidence
    }
    if (content->private_scheme) {
      gdcm::DataSet scheme;
      put(scheme, Tag(0x0008, 0x0102), VR::SH, content->private_scheme);
      put(scheme, Tag(0x0008, 0x0115), VR::ST, text(content->private_scheme_name));
      put(scheme, Tag(0x0008, 0x0116), VR::ST, text(identity->manufacturer));
      put_sequence(out, Tag(0x0008, 0x0110), {scheme});  // Coding Scheme Identification
    }

    // The content tree: TID 1500 Measurement Report.
    const cdcm_code device_type = dcm("121007", "Device");
    std::vector<gdcm::DataSet> report = {
        // TID 1204 Language of Content.
        code_item("HAS CONCEPT MOD", dcm("121049", "Language of Content Item and Descendants"),
                  {"en-US", "RFC5646", "English (United States)"}),
        // TID 1001 Observation Context: a device observed (TID 1004).
        code_item("HAS OBS CONTEXT", dcm("121005", "Observer Type"), device_type),
        uid_item("HAS OBS CONTEXT", dcm("121012", "Device Observer UID"), text(content->device_observer_uid)),
        text_item("HAS OBS CONTEXT", dcm("121013", "Device Observer Name"), text(identity->manufacturer)),
        text_item("HAS OBS CONTEXT", dcm("121014", "Device Observer Manufacturer"), text(identity->manufacturer)),
        text_item("HAS OBS CONTEXT", dcm("121015", "Device Observer Model Name"), text(identity->model_name)),
        // Procedure reported: a plain chest radiograph.
        code_item("HAS CONCEPT MOD", dcm("121058", "Procedure reported"), {"168731009", "SCT", "Chest X-ray"}),
    };
    // TID 1600 Image Library: the source image.
    {
      std::vector<gdcm::DataSet> images = {image_item("CONTAINS", nullptr, source)};
      gdcm::DataSet group = container("CONTAINS", dcm("126200", "Image Library Group"), images).dataset;
      report.push_back(container("CONTAINS", dcm("111028", "Image Library"), {group}).dataset);
    }
    // TID 1501 Measurement and Qualitative Evaluation Group: the finding (the predicted class), the
    // algorithm (TID 4019), and each class's probability (TID 300) inferred from the source image.
    std::vector<gdcm::DataSet> group = {
        text_item("HAS OBS CONTEXT", dcm("112039", "Tracking Identifier"), text(content->tracking_identifier)),
        uid_item("HAS OBS CONTEXT", dcm("112040", "Tracking Unique Identifier"), text(content->tracking_uid)),
        code_item("CONTAINS", dcm("121071", "Finding"), content->findings[content->predicted]),
        text_item("HAS CONCEPT MOD", dcm("111001", "Algorithm Name"), text(content->algorithm_name)),
        text_item("HAS CONCEPT MOD", dcm("111003", "Algorithm Version"), text(content->algorithm_version)),
    };
    for (size_t i = 0; i < content->parameter_count; ++i) {
      group.push_back(text_item("HAS CONCEPT MOD", dcm("111002", "Algorithm Parameters"),
                                text(content->algorithm_parameters[i])));
    }
    const cdcm_code source_of_measurement = dcm("121112", "Source of Measurement");
    for (size_t i = 0; i < content->class_count; ++i) {
      group.push_back(number_item("CONTAINS", content->probability_concepts[i], content->probabilities[i],
                                  {"1", "UCUM", "no units"},
                                  {image_item("INFERRED FROM", &source_of_measurement, source)}));
    }
    gdcm::DataSet measurement_group = container("CONTAINS", dcm("125007", "Measurement Group"), group).dataset;
    report.push_back(container("CONTAINS", dcm("126010", "Imaging Measurements"), {measurement_group}).dataset);

    ContentItem root = container(nullptr, dcm("126000", "Imaging Measurement Report"), report);
    gdcm::DataSet template_item;
    put(template_item, Tag(0x0008, 0x0105), VR::CS, "DCMR");
    put(template_item, Tag(0x0040, 0xDB00), VR::CS, "1500");
    put_sequence(root.dataset, Tag(0x0040, 0xA504), {template_item});  // Content Template Sequence
    for (const gdcm::DataElement &element : root.dataset.GetDES()) out.Replace(element);

    return encode(out, output, output_size, failure);
  });
}

int cdcm_make_sc(const uint8_t *source_data, size_t source_size, const cdcm_result_identity *identity,
                 const cdcm_sc_content *content, uint8_t **output, size_t *output_size, char *error,
                 size_t error_size) {
  *output = nullptr;
  *output_size = 0;
  return as_c_result(error, error_size, [&](std::string &failure) {
    Source source;
    if (!identity || !content || !content->rgb || content->width == 0 || content->height == 0 ||
        content->width > 65535 || content->height > 65535) {
      failure = "the secondary capture has no pixels, or more than 65535 on a side";
      return false;
    }
    if (!read_source(source_data, source_size, source, failure)) return false;
    const std::tm now = local_now();
    gdcm::DataSet out;
    // Secondary Capture Image Storage; "OT": no acquisition modality of its own.
    common_attributes(out, source, *identity, "1.2.840.10008.5.1.4.1.1.7", "OT",
                      has_non_ascii(text(content->image_comments)), now);
    put(out, Tag(0x0008, 0x0064), VR::CS, "WSD");  // SC Equipment: Conversion Type, workstation
    put(out, Tag(0x0018, 0x1016), VR::LO, text(identity->manufacturer));
    put(out, Tag(0x0018, 0x1018), VR::LO, text(identity->model_name));
    put(out, Tag(0x0018, 0x1019), VR::LO, text(identity->software_version));
    put(out, Tag(0x0018, 0x1012), VR::DA, date_now(now));  // Date and Time of Secondary Capture
    put(out, Tag(0x0018, 0x1014), VR::TM, time_now(now));

    // General Image: derived from the source, text burnt in.
    put(out, Tag(0x0008, 0x0008), VR::CS, "DERIVED\\SECONDARY");
    put(out, Tag(0x0020, 0x0020), VR::CS, whole_value(source.dataset, Tag(0x0020, 0x0020)));  // Patient Orientation
    std::string laterality = whole_value(source.dataset, Tag(0x0020, 0x0062));
    if (!laterality.empty()) put(out, Tag(0x0020, 0x0062), VR::CS, laterality);
    std::string body_part = whole_value(source.dataset, Tag(0x0018, 0x0015));
    if (!body_part.empty()) put(out, Tag(0x0018, 0x0015), VR::CS, body_part);
    put(out, Tag(0x0008, 0x2111), VR::ST, text(content->derivation_description));
    put_sequence(out, Tag(0x0008, 0x2112), {image_reference(source)});  // Source Image Sequence
    put(out, Tag(0x0028, 0x0301), VR::CS, "YES");  // Burned In Annotation
    put(out, Tag(0x0028, 0x2110), VR::CS, "00");   // Lossy Image Compression: none
    put(out, Tag(0x0020, 0x4000), VR::LT, text(content->image_comments));

    // The source's pixel size, scaled to this image (Basic Pixel Spacing Calibration Macro).
    std::string spacing = whole_value(source.dataset, Tag(0x0028, 0x0030));
    if (spacing.empty()) spacing = whole_value(source.dataset, Tag(0x0018, 0x1164));  // Imager Pixel Spacing
    double row = 0, column = 0;
    if (!spacing.empty() && std::sscanf(spacing.c_str(), "%lf\\%lf", &row, &column) == 2 && row > 0 &&
        column > 0 && content->scale > 0) {
      put(out, Tag(0x0028, 0x0030), VR::DS, decimal(row / content->scale) + "\\" + decimal(column / content->scale));
      put(out, Tag(0x0028, 0x0A02), VR::CS, "GEOMETRY");  // Pixel Spacing Calibration Type
      put(out, Tag(0x0028, 0x0A04), VR::LO, "from the source image's spacing, scaled to this image's size");
    }

    // Image Pixel: 8-bit RGB, interleaved.
    put_us(out, Tag(0x0028, 0x0002), 3);
    put(out, Tag(0x0028, 0x0004), VR::CS, "RGB");
    put_us(out, Tag(0x0028, 0x0006), 0);
    put_us(out, Tag(0x0028, 0x0010), static_cast<uint16_t>(content->height));
    put_us(out, Tag(0x0028, 0x0011), static_cast<uint16_t>(content->width));
    put_us(out, Tag(0x0028, 0x0100), 8);
    put_us(out, Tag(0x0028, 0x0101), 8);
    put_us(out, Tag(0x0028, 0x0102), 7);
    put_us(out, Tag(0x0028, 0x0103), 0);
    size_t length = static_cast<size_t>(content->width) * content->height * 3;
    std::vector<char> pixels(reinterpret_cast<const char *>(content->rgb),
                             reinterpret_cast<const char *>(content->rgb) + length);
    if (pixels.size() % 2) pixels.push_back(0);
    gdcm::DataElement pixel_data(Tag(0x7FE0, 0x0010));
    pixel_data.SetVR(VR::OB);
    pixel_data.SetByteValue(pixels.data(), static_cast<uint32_t>(pixels.size()));
    out.Replace(pixel_data);

    return encode(out, output, output_size, failure);
  });
}

}  // extern "C"

// MARK: DICOM JSON

namespace {

std::string json_string(const std::string &value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (c < 0x20) {
        char buffer[8];
        std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
        out += buffer;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  return out + "\"";
}

/// The VR of an element: its own when explicit, else the dictionary's.
VR element_vr(const gdcm::DataElement &element) {
  VR vr = element.GetVR();
  if (vr != VR::INVALID && vr != VR::UN) return vr;
  const gdcm::Dicts &dicts = gdcm::Global::GetInstance().GetDicts();
  VR known = dicts.GetDictEntry(element.GetTag()).GetVR();
  if (known == VR::INVALID) return VR(VR::UN);
  return known;
}

std::string data_set_json(const gdcm::DataSet &dataset);

std::string element_json(const gdcm::DataElement &element) {
  VR vr = element_vr(element);
  std::string out = "{\"vr\":\"" + std::string(VR::GetVRString(vr)) + "\"";
  if (vr == VR::SQ) {
    gdcm::SmartPointer<gdcm::SequenceOfItems> sequence = element.GetValueAsSQ();
    if (sequence && sequence->GetNumberOfItems() > 0) {
      out += ",\"Value\":[";
      for (size_t i = 1; i <= sequence->GetNumberOfItems(); ++i) {
        if (i > 1) out += ",";
        out += data_set_json(sequence->GetItem(i).GetNestedDataSet());
      }
      out += "]";
    }
    return out + "}";
  }
  const gdcm::ByteValue *bytes = element.GetByteValue();
  if (!bytes || bytes->GetLength() == 0) return out + "}";
  const char *p = bytes->GetPointer();
  const size_t length = bytes->GetLength();
  std::vector<std::string> values;
  auto little = [&](size_t offset, size_t size) {
    uint64_t value = 0;
    for (size_t b = 0; b < size; ++b) value |= static_cast<uint64_t>(static_cast<unsigned char>(p[offset + b])) << (8 * b);
    return value;
  };
  if (vr == VR::US || vr == VR::SS || vr == VR::UL || vr == VR::SL) {
    const size_t size = (vr == VR::US || vr == VR::SS) ? 2 : 4;
    for (size_t offset = 0; offset + size <= length; offset += size) {
      uint64_t raw = little(offset, size);
      long long value = vr == VR::SS ? static_cast<int16_t>(raw) : vr == VR::SL ? static_cast<int32_t>(raw) : static_cast<long long>(raw);
      values.push_back(std::to_string(value));
    }
  } else if (vr == VR::FL || vr == VR::FD) {
    const size_t size = vr == VR::FL ? 4 : 8;
    for (size_t offset = 0; offset + size <= length; offset += size) {
      double value = 0;
      if (size == 4) {
        float f;
        std::memcpy(&f, p + offset, 4);
        value = f;
      } else {
        std::memcpy(&value, p + offset, 8);
      }
      values.push_back(decimal(value));
    }
  } else if (vr & (VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::UN)) {
    return out + "}";  // bulk data left out
  } else {
    std::string whole = std::string(p, length);
    bool multiple = !(vr & (VR::UT | VR::ST | VR::LT));
    size_t start = 0;
    while (true) {
      size_t end = multiple ? whole.find('\\', start) : std::string::npos;
      std::string value = trimmed(whole.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (vr == VR::PN) {
        values.push_back("{\"Alphabetic\":" + json_string(value) + "}");
      } else if (vr == VR::DS || vr == VR::IS) {
        values.push_back(value.empty() ? "null" : value);
      } else {
        values.push_back(json_string(value));
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  out += ",\"Value\":[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + values[i];
  return out + "]}";
}

std::string data_set_json(const gdcm::DataSet &dataset) {
  std::string out = "{";
  bool first = true;
  for (const gdcm::DataElement &element : dataset.GetDES()) {
    const Tag &tag = element.GetTag();
    if (tag.GetGroup() == 0x0002 || tag.IsGroupLength()) continue;
    char key[16];
    std::snprintf(key, sizeof key, "%04X%04X", tag.GetGroup(), tag.GetElement());
    out += std::string(first ? "" : ",") + "\"" + key + "\":" + element_json(element);
    first = false;
  }
  return out + "}";
}

}  // namespace

extern "C" int cdcm_to_json(const uint8_t *data, size_t size, char **json, char *error, size_t error_size) {
  *json = nullptr;
  return as_c_result(error, error_size, [&](std::string &failure) {
    std::istringstream stream(std::string(reinterpret_cast<const char *>(data), size));
    gdcm::Reader reader;
    reader.SetStream(stream);
    if (!reader.Read()) {
      failure = "GDCM cannot parse it as DICOM";
      return false;
    }
    std::string text = data_set_json(reader.GetFile().GetDataSet());
    *json = static_cast<char *>(std::malloc(text.size() + 1));
    if (!*json) {
      failure = "out of memory";
      return false;
    }
    std::memcpy(*json, text.c_str(), text.size() + 1);
    return true;
  });
}
