// Meridian's prediction API client (see README, "Client library"). Web-standard only: runs in
// Node, browsers and Workers; import from "client" (this file).
export {
  MeridianClient,
  type Answered,
  type CallOptions,
  type ClientOptions,
  type Fetch,
  type InferAnswer,
  type InferRequest,
  type ModelMetadata,
  type PredictAnswer,
  type Prediction,
  type RetryOptions,
  type ServerMetadata,
} from "./client";
export {
  AuthError,
  InvalidInputError,
  MeridianError,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  UnavailableError,
  type ErrorBody,
  type GaveUp,
} from "./errors";
export {
  LocalModel,
  type Backend,
  type LoadStatus,
  type LocalAnswer,
  type LocalInferAnswer,
  type LocalInferRequest,
  type LocalModelOptions,
  type OrtModule,
  type OrtSession,
  type OrtTensor,
  type RemoteAnswer,
} from "./local";
export { RetryBudget, backoffMs, parseRetryAfter, type BackoffOptions, type RetryBudgetOptions } from "./retry";
export {
  InferenceOutputs,
  TensorError,
  decodeAnswer,
  toTensorInput,
  type Datatype,
  type InferenceResult,
  type InputTensor,
  type OutputTensor,
  type PlainValue,
  type PlainValues,
  type TensorValues,
} from "./tensors";
