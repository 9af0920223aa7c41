/** The bytes are not an ONNX model this project can serve (bad protobuf, missing graph, unsupported types). */
export class OnnxFormatError extends Error {
  override readonly name = "OnnxFormatError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
