// The price of a billion predictions at Cloudflare's published Workers prices, from measured CPU
// time per request, beside the published price of the nearest Workers AI models. The prices are
// constants copied from the pages named here (read through the stored copies named in `source`);
// check them before leaning on the dollars.

export const WORKERS_PRICING = {
  page: "https://developers.cloudflare.com/workers/platform/pricing/",
  source:
    "cloudflare/cloudflare-docs src/content/docs/workers/platform/pricing.mdx (stored copy at commit 723633899dc8), the same figures as the page served at developers.cloudflare.com/workers/platform/pricing/ (read 2026-12-02); the Workflows pricing page (2025) calls its own pricing identical to Workers Standard's",
  readOn: "2026-12-02",
  plan: "Workers Paid, Standard usage model",
  baseUsdPerMonth: 5,
  includedRequestsPerMonth: 10_000_000,
  usdPerMillionRequests: 0.3,
  includedCpuMsPerMonth: 30_000_000,
  usdPerMillionCpuMs: 0.02,
  note: "Inbound requests are billed, subrequests are not; duration (wall time) is not billed.",
} as const;

export const WORKERS_AI_PRICING = {
  page: "https://developers.cloudflare.com/workers-ai/platform/pricing/",
  source:
    "cloudflare/cloudflare-docs src/content/docs/workers-ai/platform/pricing.mdx (stored copy at commit 04d268cf19d3; the per-model list dates from the 2025-02-20 pricing update, changelog workers-ai/2025-02-20-updated-pricing-docs), read 2026-12-02",
  readOn: "2026-12-02",
  usdPer1000Neurons: 0.011,
  freeNeuronsPerDay: 10_000,
  models: {
    text: {
      model: "@cf/huggingface/distilbert-sst-2-int8",
      task: "text classification (sentiment, 2 classes)",
      usdPerMillionInputTokens: 0.026,
      neuronsPerMillionInputTokens: 2394,
    },
    image: {
      model: "@cf/microsoft/resnet-50",
      task: "image classification (ImageNet, 1000 classes, 224×224 input)",
      usdPerMillionImages: 2.51,
      neuronsPerMillionImages: 228_055,
    },
  },
} as const;

const P = WORKERS_PRICING;

export interface WorkersCost {
  predictions: number;
  requests: number;
  cpuMsPerPrediction: number;
  cpuMs: number;
  requestsUsd: number;
  cpuUsd: number;
  baseUsd: number;
  totalUsd: number;
  /** Without the monthly allowances and base fee: the marginal price of these predictions. */
  marginalUsd: number;
}

/**
 * `predictions` predictions, `perRequest` of them per request, each request costing
 * `cpuMsPerRequest` of CPU, billed in one month on Workers Paid (Standard).
 */
export function workersCost(predictions: number, cpuMsPerRequest: number, perRequest = 1): WorkersCost {
  const requests = predictions / perRequest;
  const cpuMs = requests * cpuMsPerRequest;
  const requestsUsd = (Math.max(0, requests - P.includedRequestsPerMonth) / 1e6) * P.usdPerMillionRequests;
  const cpuUsd = (Math.max(0, cpuMs - P.includedCpuMsPerMonth) / 1e6) * P.usdPerMillionCpuMs;
  const marginalUsd = (requests / 1e6) * P.usdPerMillionRequests + (cpuMs / 1e6) * P.usdPerMillionCpuMs;
  return { predictions, requests, cpuMsPerPrediction: cpuMs / predictions, cpuMs, requestsUsd, cpuUsd, baseUsd: P.baseUsdPerMonth, totalUsd: P.baseUsdPerMonth + requestsUsd + cpuUsd, marginalUsd };
}

/** Workers AI text classification: a billion texts of `tokensPerText` input tokens each. */
export function distilbertUsd(predictions: number, tokensPerText: number): number {
  return ((predictions * tokensPerText) / 1e6) * WORKERS_AI_PRICING.models.text.usdPerMillionInputTokens;
}

export function resnetUsd(predictions: number): number {
  return (predictions / 1e6) * WORKERS_AI_PRICING.models.image.usdPerMillionImages;
}

/**
 * A rough BERT WordPiece token count (modelled, not tokenized): words and punctuation marks, plus
 * one more per 6 characters of a long word (split into pieces), plus [CLS] and [SEP].
 */
export function estimateBertTokens(text: string): number {
  const pieces = text.toLowerCase().match(/[a-z0-9]+|[^\sa-z0-9]/g) ?? [];
  return 2 + pieces.reduce((n, p) => n + 1 + (p.length > 8 ? Math.floor((p.length - 1) / 6) : 0), 0);
}
