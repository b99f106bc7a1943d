/// The text in a NUL-terminated C buffer that a decoder or encoder filled with its error message.
func decodedMessage(_ buffer: [CChar]) -> String {
  String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
