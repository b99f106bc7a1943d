// What both CDicom files need from a GDCM data set and for their C error convention (private to the
// target; not part of the C API in include/).
#ifndef CDICOM_GDCM_VALUES_H
#define CDICOM_GDCM_VALUES_H

#include <gdcmDataSet.h>

#include <cstdio>
#include <string>

namespace cdicom {

/// Copies `message` into the caller's error buffer (truncated to fit).
inline void set_error(char *error, size_t size, const std::string &message) {
  if (error && size > 0) std::snprintf(error, size, "%s", message.c_str());
}

/// `text` without the spaces and NULs that pad DICOM values.
inline std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  while (!text.empty() && text.front() == ' ') text.erase(text.begin());
  return text;
}

/// The whole string value of a tag (every value, backslash-separated), trimmed, or "".
inline std::string whole_value(const gdcm::DataSet &dataset, const gdcm::Tag &tag) {
  if (!dataset.FindDataElement(tag)) return "";
  const gdcm::ByteValue *bytes = dataset.GetDataElement(tag).GetByteValue();
  return bytes ? trimmed(std::string(bytes->GetPointer(), bytes->GetLength())) : "";
}

/// The first value of a tag, trimmed, or "".
inline std::string first_value(const gdcm::DataSet &dataset, const gdcm::Tag &tag) {
  std::string value = whole_value(dataset, tag);
  size_t separator = value.find('\\');
  return separator == std::string::npos ? value : trimmed(value.substr(0, separator));
}

}  // namespace cdicom

#endif
