import Foundation

/// DICOM decoding. Until the GDCM-backed reader lands, DICOM files are recognised and rejected with a
/// clear message rather than misread.
enum DicomDecoding {
  static func decode(_ data: Data, path: String) throws -> GrayImage {
    throw ImageError(path: path, reason: "is DICOM, which this build of OrthoCXR cannot read yet")
  }
}
