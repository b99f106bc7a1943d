// The implementation of cdicom.h: GDCM calls and value conversion; display logic lives in Swift.
#include "cdicom.h"
#include "gdcm_values.h"

// GDCM 3 marks some calls used in this file as deprecated; they remain the documented way to read
// these tags, so the warning is off for the whole file.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <gdcmAttribute.h>
#include <gdcmDataSet.h>
#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmStringFilter.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <exception>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <vector>

namespace {

using cdicom::first_value;
using cdicom::set_error;
using cdicom::trimmed;

bool double_value(const gdcm::DataSet &dataset, const gdcm::Tag &tag, double &out) {
  std::string text = first_value(dataset, tag);
  if (text.empty()) return false;
  char *end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end != text.c_str();
}

/// An unsigned 16-bit or signed/unsigned value of a US/SS element at `index` (LUT Descriptor).
bool descriptor_value(const gdcm::DataElement &element, int index, bool is_little_endian, int32_t &out) {
  const gdcm::ByteValue *bytes = element.GetByteValue();
  if (!bytes || bytes->GetLength() < static_cast<uint32_t>(2 * (index + 1))) return false;
  const unsigned char *p = reinterpret_cast<const unsigned char *>(bytes->GetPointer()) + 2 * index;
  out = is_little_endian ? (p[0] | (p[1] << 8)) : ((p[0] << 8) | p[1]);
  return true;
}

/// One frame of DICOM RLE Lossless (PS3.5 Annex G) decoded into little-endian, pixel-interleaved
/// samples: a 64-byte header (the segment count, then up to 15 segment offsets), then one PackBits
/// segment per byte of each sample, most significant byte first, sample by sample. Used for colour
/// with more than 8 bits per sample, where GDCM 3.0.21 hands each pixel's bytes over rotated (a red
/// pixel's six bytes come out as 00 00 00 ff ff 00); false when the fragment is malformed.
bool decode_rle_frame(const unsigned char *data, size_t size, size_t pixels, int samples, int bytes_per_sample,
                      std::vector<char> &out) {
  auto word = [&](size_t at) {
    return static_cast<uint32_t>(data[at]) | static_cast<uint32_t>(data[at + 1]) << 8 |
           static_cast<uint32_t>(data[at + 2]) << 16 | static_cast<uint32_t>(data[at + 3]) << 24;
  };
  const int segments = samples * bytes_per_sample;
  if (size < 64 || segments > 15 || static_cast<int>(word(0)) != segments) return false;
  out.assign(pixels * segments, 0);
  for (int segment = 0; segment < segments; ++segment) {
    size_t at = word(4 + 4 * segment);
    size_t end = segment + 1 < segments ? word(8 + 4 * segment) : size;
    if (at < 64 || at > end || end > size) return false;
    const int sample = segment / bytes_per_sample;
    const int byte_in_sample = bytes_per_sample - 1 - segment % bytes_per_sample;  // MSB first → last byte
    size_t written = 0;
    auto put = [&](unsigned char value) {
      if (written < pixels) out[(written * samples + sample) * bytes_per_sample + byte_in_sample] = static_cast<char>(value);
      ++written;
    };
    while (at < end && written < pixels) {
      const int header = static_cast<signed char>(data[at++]);
      if (header >= 0) {  // the next header + 1 bytes as they are
        for (int i = 0; i <= header && at < end; ++i) put(data[at++]);
      } else if (header != -128) {  // the next byte, 1 - header times
        if (at >= end) break;
        const unsigned char value = data[at++];
        for (int i = 0; i < 1 - header; ++i) put(value);
      }
    }
    if (written < pixels) return false;
  }
  return true;
}

bool read_all(int fd, void *data, size_t size) {
  char *bytes = static_cast<char *>(data);
  while (size > 0) {
    ssize_t got = read(fd, bytes, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    bytes += got;
    size -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

extern "C" int cdcm_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cdcm_image *image, char *error,
                           size_t error_size);

namespace {

bool send_all(int fd, const void *data, size_t size) {
  const char *bytes = static_cast<const char *>(data);
  while (size > 0) {
    ssize_t sent = send(fd, bytes, size, MSG_NOSIGNAL);  // a dead peer is an error, not SIGPIPE
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    bytes += sent;
    size -= static_cast<size_t>(sent);
  }
  return true;
}

/// The process's virtual address space in bytes (/proc/self/statm), 0 when unknown.
size_t address_space() {
  unsigned long pages = 0;
  FILE *statm = std::fopen("/proc/self/statm", "r");
  if (statm) {
    if (std::fscanf(statm, "%lu", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  return static_cast<size_t>(pages) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

/// The memory a decode may take, in a decoder process (nowhere else: the limit is the process's).
/// Parsing may take what the file justifies — four times its size (GDCM's copies and data set) and
/// 256 MB — so a 66 KB file whose header claims 2 GB of pixel data fails with bad_alloc instead of
/// zero-filling 2 GB. Decoding may then take 24 bytes per allowed pixel more (the decompressed
/// frames at up to 4 bytes per sample, three samples, and the 32-bit values handed over): bounded by
/// the image it may produce. Not under AddressSanitizer, which reserves terabytes of address space.
struct MemoryBudget {
  bool active = false;
  size_t base = 0;  // the decoder's address space before any request
  uint64_t file_size = 0;
  uint64_t max_pixels = 0;
};
MemoryBudget budget;

void bound_memory(bool decoding) {
#if defined(__SANITIZE_ADDRESS__)
  return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return;
#endif
#endif
  rlimit limit{};
  if (!budget.active || budget.base == 0 || getrlimit(RLIMIT_AS, &limit) != 0) return;
  rlim_t wanted = budget.base + 4 * budget.file_size + (256ull << 20);
  if (decoding) wanted = budget.max_pixels == 0 ? RLIM_INFINITY : wanted + 24 * budget.max_pixels + (256ull << 20);
  if (limit.rlim_max != RLIM_INFINITY && (wanted == RLIM_INFINITY || wanted > limit.rlim_max)) wanted = limit.rlim_max;
  limit.rlim_cur = wanted;
  setrlimit(RLIMIT_AS, &limit);
}

/// A decoder process: forked once, it decodes the files it is sent until its socket closes.
struct DecoderProcess {
  pid_t pid;
  int socket;
};

[[noreturn]] void serve(int socket, pid_t parent) {
  // A decoder holds nothing of its parent's: forked while other threads worked, it inherited every
  // open descriptor — other decoders' sockets, the parent's pipes — and holding those would keep
  // them open after the parent exits (a sibling decoder then never sees end-of-file, and whoever
  // reads the parent's output waits for ever). Keep only its own socket, as descriptor 3: when the
  // parent exits, the socket's end-of-file ends the decoder. (Not PR_SET_PDEATHSIG: that fires when
  // the forking *thread* ends, and decoders are pooled across threads.)
  if (getppid() != parent) _exit(0);  // the parent is already gone
  if (socket != 3) {
    dup2(socket, 3);
    socket = 3;
  }
  close_range(4, ~0U, 0);
  int quiet = open("/dev/null", O_WRONLY);
  if (quiet >= 0) {
    dup2(quiet, STDOUT_FILENO);
    dup2(quiet, STDERR_FILENO);  // GDCM's assertion messages are the parent's to report
    if (quiet > 3) close(quiet);
  }
  budget.active = true;
  budget.base = address_space();
  // A request: the byte count, the pixel limit, the bytes.
  uint64_t header[2] = {0, 0};
  while (read_all(socket, header, sizeof header)) {
    const uint64_t size = header[0];
    budget.file_size = size;
    budget.max_pixels = header[1];
    bound_memory(false);
    std::vector<uint8_t> bytes(size);
    if (size > 0 && !read_all(socket, bytes.data(), size)) break;
    cdcm_image result;
    char message[512] = {0};
    int status = cdcm_decode(bytes.data(), bytes.size(), header[1], &result, message, sizeof message);
    bool sent = send_all(socket, &status, sizeof status);
    if (status == CDCM_OVER_PIXEL_LIMIT) {
      sent = sent && send_all(socket, &result, sizeof result);  // the declared size; no values
    } else if (status != 0) {
      sent = sent && send_all(socket, message, sizeof message);
    } else {
      size_t values = static_cast<size_t>(result.width) * result.height * result.samples_per_pixel;
      sent = sent && send_all(socket, &result, sizeof result) &&
             send_all(socket, result.values, values * sizeof(int32_t)) &&
             send_all(socket, result.lut, result.lut_count * sizeof(uint16_t));
      std::free(result.values);
      std::free(result.lut);
    }
    if (!sent) break;
  }
  _exit(0);  // never the parent's exit handlers
}

std::mutex pool_mutex;
std::vector<DecoderProcess> idle_decoders;

bool start_decoder(DecoderProcess &process, std::string &failure) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    failure = std::string("cannot create a socket pair: ") + std::strerror(errno);
    return false;
  }
  const pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) {
    close(sockets[0]);
    close(sockets[1]);
    failure = std::string("cannot start the DICOM decoder process: ") + std::strerror(errno);
    return false;
  }
  if (child == 0) {
    close(sockets[0]);
    serve(sockets[1], parent);
  }
  close(sockets[1]);
  process = {child, sockets[0]};
  return true;
}

void retire(const DecoderProcess &process, int &child_status) {
  close(process.socket);
  while (waitpid(process.pid, &child_status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

extern "C" int cdcm_decode_isolated(const uint8_t *data, size_t size, uint64_t max_pixels, cdcm_image *image,
                                    char *error, size_t error_size) {
  std::memset(image, 0, sizeof *image);
  DecoderProcess process{};
  {
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (!idle_decoders.empty()) {
      process = idle_decoders.back();
      idle_decoders.pop_back();
    }
  }
  std::string failure;
  if (process.pid == 0 && !start_decoder(process, failure)) {
    set_error(error, error_size, failure);
    return 1;
  }
  const uint64_t header[2] = {size, max_pixels};
  int status = 1;
  bool complete = send_all(process.socket, header, sizeof header) && send_all(process.socket, data, size) &&
                  read_all(process.socket, &status, sizeof status);
  if (complete && status == CDCM_OVER_PIXEL_LIMIT) {
    cdcm_image declared;
    complete = read_all(process.socket, &declared, sizeof declared);
    if (complete) {
      image->width = declared.width;
      image->height = declared.height;
      image->frames = declared.frames;
    }
  } else if (complete && status != 0) {
    char message[512] = {0};
    complete = read_all(process.socket, message, sizeof message);
    if (complete) set_error(error, error_size, message);
  } else if (complete) {
    cdcm_image result;
    complete = read_all(process.socket, &result, sizeof result);
    size_t values = complete ? static_cast<size_t>(result.width) * result.height * result.samples_per_pixel : 0;
    if (complete) {
      result.values = static_cast<int32_t *>(std::malloc(std::max<size_t>(values, 1) * sizeof(int32_t)));
      result.lut = result.lut_count ? static_cast<uint16_t *>(std::malloc(result.lut_count * sizeof(uint16_t))) : nullptr;
      complete = result.values && read_all(process.socket, result.values, values * sizeof(int32_t)) &&
                 (!result.lut_count || (result.lut && read_all(process.socket, result.lut, result.lut_count * sizeof(uint16_t))));
      if (complete) {
        *image = result;
      } else {
        std::free(result.values);
        std::free(result.lut);
      }
    }
  }
  if (complete) {
    std::lock_guard<std::mutex> lock(pool_mutex);
    idle_decoders.push_back(process);
    return status;
  }
  // The decoder died mid-file (GDCM aborted): reap it; the next call starts a fresh one.
  int child_status = 0;
  retire(process, child_status);
  set_error(error, error_size,
            WIFSIGNALED(child_status)
                ? "GDCM crashed reading it (signal " + std::to_string(WTERMSIG(child_status)) + "): the file is malformed"
                : "the DICOM decoder process ended without an answer");
  return 1;
}

extern "C" {

void cdcm_free(void *pointer) { std::free(pointer); }

int cdcm_decode(const uint8_t *data, size_t size, uint64_t max_pixels, cdcm_image *image, char *error,
                size_t error_size) {
  std::memset(image, 0, sizeof *image);
  image->rescale_slope = 1;
  try {
    std::string bytes(reinterpret_cast<const char *>(data), size);
    // GDCM is built with assertions on, and its image reader aborts the process on some malformed
    // attributes instead of failing. Parse the plain dataset first and reject those files here.
    {
      std::istringstream probe_stream(bytes);
      gdcm::Reader probe;
      probe.SetStream(probe_stream);
      if (!probe.Read()) {
        set_error(error, error_size, "GDCM cannot parse it (not DICOM, truncated, corrupt, or an element longer than the file)");
        return 1;
      }
      const gdcm::DataSet &probe_set = probe.GetFile().GetDataSet();
      if (!probe_set.FindDataElement(gdcm::Tag(0x7fe0, 0x0010))) {
        set_error(error, error_size, "it holds no pixel data (7FE0,0010): it is not an image");
        return 1;
      }
      if (probe_set.FindDataElement(gdcm::Tag(0x0028, 0x0009)) && !probe_set.FindDataElement(gdcm::Tag(0x0028, 0x0008))) {
        set_error(error, error_size,
                  "it has a Frame Increment Pointer (0028,0009) but no Number of Frames (0028,0008), which GDCM cannot read");
        return 1;
      }
    }
    bound_memory(true);  // parsed within the file's budget; now the pixels' (in a decoder process)
    std::istringstream stream(bytes);
    gdcm::ImageReader reader;
    reader.SetStream(stream);
    if (!reader.Read()) {
      set_error(error, error_size, "GDCM cannot read it as a DICOM image (no pixel data, no file meta header, truncated, or not DICOM)");
      return 1;
    }
    const gdcm::Image &dicom = reader.GetImage();
    const gdcm::DataSet &dataset = reader.GetFile().GetDataSet();
    const unsigned int *dimensions = dicom.GetDimensions();
    const gdcm::PixelFormat &format = dicom.GetPixelFormat();
    if (dicom.GetNumberOfDimensions() < 2 || dimensions[0] == 0 || dimensions[1] == 0) {
      set_error(error, error_size, "it holds no image (no rows or columns)");
      return 1;
    }
    image->width = dimensions[0];
    image->height = dimensions[1];
    image->frames = dicom.GetNumberOfDimensions() > 2 ? dimensions[2] : 1;
    image->bits_allocated = format.GetBitsAllocated();
    image->bits_stored = format.GetBitsStored();
    image->pixel_representation = format.GetPixelRepresentation();
    image->samples_per_pixel = format.GetSamplesPerPixel();
    // GDCM pads the value to an even length ("MONOCHROME2 "): trim it.
    std::string photometric = trimmed(gdcm::PhotometricInterpretation::GetPIString(dicom.GetPhotometricInterpretation()));
    std::snprintf(image->photometric, sizeof image->photometric, "%s", photometric.c_str());
    image->rescale_slope = dicom.GetSlope();
    image->rescale_intercept = dicom.GetIntercept();

    double center = 0, width = 0;
    if (double_value(dataset, gdcm::Tag(0x0028, 0x1050), center) &&
        double_value(dataset, gdcm::Tag(0x0028, 0x1051), width)) {
      image->has_window = 1;
      image->window_center = center;
      image->window_width = width;
    }
    std::snprintf(image->study_instance_uid, sizeof image->study_instance_uid, "%s",
                  first_value(dataset, gdcm::Tag(0x0020, 0x000D)).c_str());
    std::snprintf(image->series_instance_uid, sizeof image->series_instance_uid, "%s",
                  first_value(dataset, gdcm::Tag(0x0020, 0x000E)).c_str());
    std::snprintf(image->sop_instance_uid, sizeof image->sop_instance_uid, "%s",
                  first_value(dataset, gdcm::Tag(0x0008, 0x0018)).c_str());
    std::snprintf(image->sop_class_uid, sizeof image->sop_class_uid, "%s",
                  first_value(dataset, gdcm::Tag(0x0008, 0x0016)).c_str());
    std::snprintf(image->modality, sizeof image->modality, "%s", first_value(dataset, gdcm::Tag(0x0008, 0x0060)).c_str());
    std::string function = first_value(dataset, gdcm::Tag(0x0028, 0x1056));
    std::snprintf(image->voi_function, sizeof image->voi_function, "%s", function.empty() ? "LINEAR" : function.c_str());

    // VOI LUT Sequence (0028,3010): descriptor (0028,3002) and data (0028,3006) of the first item.
    if (dataset.FindDataElement(gdcm::Tag(0x0028, 0x3010))) {
      gdcm::SmartPointer<gdcm::SequenceOfItems> sequence =
          dataset.GetDataElement(gdcm::Tag(0x0028, 0x3010)).GetValueAsSQ();
      if (sequence && sequence->GetNumberOfItems() > 0) {
        const gdcm::DataSet &item = sequence->GetItem(1).GetNestedDataSet();
        bool little = reader.GetFile().GetHeader().GetDataSetTransferSyntax() != gdcm::TransferSyntax::ExplicitVRBigEndian;
        int32_t count = 0, first = 0, bits = 0;
        if (item.FindDataElement(gdcm::Tag(0x0028, 0x3002)) && item.FindDataElement(gdcm::Tag(0x0028, 0x3006))) {
          const gdcm::DataElement &descriptor = item.GetDataElement(gdcm::Tag(0x0028, 0x3002));
          const gdcm::ByteValue *data = item.GetDataElement(gdcm::Tag(0x0028, 0x3006)).GetByteValue();
          if (descriptor_value(descriptor, 0, little, count) && descriptor_value(descriptor, 1, little, first) &&
              descriptor_value(descriptor, 2, little, bits) && data) {
            if (count == 0) count = 65536;  // the standard's encoding of 2^16 entries
            // The first-mapped value is signed when the pixels are.
            if (image->pixel_representation == 1 && first > 32767) first -= 65536;
            size_t entries = std::min<size_t>(count, data->GetLength() / 2);
            image->lut = static_cast<uint16_t *>(std::malloc(entries * sizeof(uint16_t)));
            const unsigned char *p = reinterpret_cast<const unsigned char *>(data->GetPointer());
            for (size_t i = 0; i < entries; ++i) {
              image->lut[i] = little ? (p[2 * i] | (p[2 * i + 1] << 8)) : ((p[2 * i] << 8) | p[2 * i + 1]);
            }
            image->lut_count = static_cast<uint32_t>(entries);
            image->lut_first_mapped = first;
            image->lut_bits = bits;
          }
        }
      }
    }

    // The pixel limit, from the header: GDCM decompresses every frame at once below.
    const uint64_t declared_pixels = static_cast<uint64_t>(image->width) * image->height * std::max<uint32_t>(image->frames, 1);
    if (max_pixels && declared_pixels > max_pixels) {
      cdcm_free(image->lut);
      image->lut = nullptr;
      image->lut_count = 0;
      return CDCM_OVER_PIXEL_LIMIT;
    }
    // A damaged header can declare an enormous image; refuse before allocating for it.
    const double declared_bytes = static_cast<double>(image->width) * image->height * image->samples_per_pixel *
                                  ((image->bits_allocated + 7) / 8);
    if (image->width > 65535 || image->height > 65535 || declared_bytes > 2.0e9) {
      set_error(error, error_size,
                "it declares an image of " + std::to_string(image->width) + "x" + std::to_string(image->height) +
                    ", too large to be a radiograph (a damaged header?)");
      return 1;
    }

    // Uncompressed pixel data shorter than the rows, columns and frames declare is a truncated file,
    // which GDCM would hand over padded: a silently wrong image. GDCM reports the declared length,
    // so look at the bytes: the Pixel Data element (7FE0,0010) must fit in the file.
    const gdcm::TransferSyntax &syntax = reader.GetFile().GetHeader().GetDataSetTransferSyntax();
    // Deflated files hold compressed bytes; YBR_FULL_422 stores two samples per pixel, not three.
    if (!syntax.IsEncapsulated() && syntax != gdcm::TransferSyntax::DeflatedExplicitVRLittleEndian &&
        image->bits_allocated >= 8) {
      const int stored_samples = photometric == "YBR_FULL_422" ? 2 : image->samples_per_pixel;
      size_t declared = static_cast<size_t>(image->width) * image->height * image->frames * stored_samples *
                        ((image->bits_allocated + 7) / 8);
      const bool big = syntax == gdcm::TransferSyntax::ExplicitVRBigEndian;
      const std::string tag = big ? std::string("\x7F\xE0\x00\x10", 4) : std::string("\xE0\x7F\x10\x00", 4);
      size_t position = bytes.find(tag, 132);
      // The shortest element header (implicit VR) is 8 bytes: tag and length.
      if (position == std::string::npos || position + 8 + declared > bytes.size()) {
        size_t available = position == std::string::npos ? 0 : bytes.size() - std::min(bytes.size(), position + 8);
        set_error(error, error_size,
                  "its pixel data is truncated (" + std::to_string(available) + " bytes, " + std::to_string(declared) +
                      " declared)");
        return 1;
      }
    }

    // Decompressed pixel data, then the first frame's samples sign-extended to int32. Multi-byte RLE
    // colour is decoded here (its first frame only) instead of by GDCM (see decode_rle_frame).
    size_t samples = static_cast<size_t>(image->width) * image->height * image->samples_per_pixel;
    size_t bytes_per_sample = (image->bits_allocated + 7) / 8;
    std::vector<char> buffer;
    if (syntax == gdcm::TransferSyntax::RLELossless && image->samples_per_pixel > 1 && bytes_per_sample > 1) {
      const gdcm::SequenceOfFragments *fragments = dicom.GetDataElement().GetSequenceOfFragments();
      const gdcm::ByteValue *first =
          fragments && fragments->GetNumberOfFragments() > 0 ? fragments->GetFragment(0).GetByteValue() : nullptr;
      if (!first || !decode_rle_frame(reinterpret_cast<const unsigned char *>(first->GetPointer()), first->GetLength(),
                                      static_cast<size_t>(image->width) * image->height, image->samples_per_pixel,
                                      static_cast<int>(bytes_per_sample), buffer)) {
        cdcm_free(image->lut);
        image->lut = nullptr;
        set_error(error, error_size, "its RLE pixel data is malformed (segments missing or short)");
        return 1;
      }
    } else {
      buffer.resize(dicom.GetBufferLength());
      if (buffer.empty() || !dicom.GetBuffer(buffer.data())) {
        cdcm_free(image->lut);
        image->lut = nullptr;
        set_error(error, error_size,
                  std::string("GDCM cannot decode its pixel data (transfer syntax ") +
                      gdcm::TransferSyntax::GetTSString(dicom.GetTransferSyntax()) + ")");
        return 1;
      }
    }
    if (image->bits_allocated != 8 && image->bits_allocated != 16 && image->bits_allocated != 32) {
      cdcm_free(image->lut);
      image->lut = nullptr;
      set_error(error, error_size, "it uses " + std::to_string(image->bits_allocated) + " bits per sample, which OrthoCXR does not read");
      return 1;
    }
    if (buffer.size() < samples * bytes_per_sample) {
      cdcm_free(image->lut);
      image->lut = nullptr;
      set_error(error, error_size, "its pixel data is shorter than its rows and columns say");
      return 1;
    }
    // Big-endian 32-bit samples: GDCM 3.0.21 swaps the bytes of each 16-bit word (as for OW data),
    // leaving the two halves of a 32-bit sample in big-endian order (1249000 = 0x00130EE8 comes out
    // 13 00 e8 0e); put the halves in little-endian order.
    if (syntax == gdcm::TransferSyntax::ExplicitVRBigEndian && bytes_per_sample == 4) {
      for (size_t i = 0; i + 4 <= samples * 4; i += 4) {
        std::swap(buffer[i], buffer[i + 2]);
        std::swap(buffer[i + 1], buffer[i + 3]);
      }
    }
    image->values = static_cast<int32_t *>(std::malloc(samples * sizeof(int32_t)));
    bool planar = dicom.GetPlanarConfiguration() == 1 && image->samples_per_pixel > 1;
    size_t plane = static_cast<size_t>(image->width) * image->height;
    int stored = image->bits_stored > 0 ? image->bits_stored : image->bits_allocated;
    // Unsigned 32-bit samples do not fit the int32 values: keep their top 31 bits and double the
    // rescale slope, so that the modality values, and the display, come out the same to one part in
    // 2^31 (the slope reported with the image is then twice the file's).
    const bool halve = stored >= 32 && image->pixel_representation == 0;
    if (halve) {
      image->rescale_slope = (image->rescale_slope == 0 ? 1 : image->rescale_slope) * 2;
      image->bits_stored = 31;
    }
    for (size_t i = 0; i < samples; ++i) {
      // Interleave planar data (RRR…GGG…BBB…) as RGBRGB….
      size_t source = planar ? (i % image->samples_per_pixel) * plane + i / image->samples_per_pixel : i;
      const unsigned char *p = reinterpret_cast<const unsigned char *>(buffer.data()) + source * bytes_per_sample;
      uint32_t raw = 0;
      std::memcpy(&raw, p, bytes_per_sample);  // GDCM hands over native (little-endian) order
      if (stored < 32) raw &= (1u << stored) - 1;
      int32_t value = static_cast<int32_t>(raw);
      if (image->pixel_representation == 1 && stored < 32 && (raw & (1u << (stored - 1)))) {
        value = static_cast<int32_t>(raw) - (1 << stored);
      }
      if (halve) value = static_cast<int32_t>(raw >> 1);
      image->values[i] = value;
    }
    return 0;
  } catch (const std::bad_alloc &) {
    set_error(error, error_size,
              "reading it needs more memory than an image within the pixel limit may take (a damaged length?)");
  } catch (const std::exception &exception) {
    set_error(error, error_size, std::string("GDCM failed: ") + exception.what());
  } catch (...) {
    set_error(error, error_size, "GDCM failed with an unknown exception");
  }
  cdcm_free(image->lut);
  cdcm_free(image->values);
  image->lut = nullptr;
  image->values = nullptr;
  return 1;
}

}  // extern "C"
