// Native fp32 peak of one core, compiled by bench/kernel at bench time (g++ -O2 -mavx2 -mfma).
// Each loop runs K independent accumulators, acc = acc * m + c, so latency is hidden and only
// issue width counts: "sse-muladd" is the native twin of the WASM SIMD loop (128-bit mul then
// add), "avx2-fma" the AVX2+FMA peak, "avx512-fma" (only where the CPU has avx512f) what MLAS's
// AVX-512F kernels may use.
#include <immintrin.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

template <int K> __attribute__((noinline)) float sseMulAdd(long n) {
  __m128 acc[K], m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-6f);
  for (int k = 0; k < K; k++) acc[k] = _mm_set1_ps(float(k + 1) / K);
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 16
    for (int k = 0; k < K; k++) acc[k] = _mm_add_ps(_mm_mul_ps(acc[k], m), c);
  }
  float s = 0;
  for (int k = 0; k < K; k++) s += _mm_cvtss_f32(acc[k]);
  return s;
}

template <int K> __attribute__((noinline)) float avx2Fma(long n) {
  __m256 acc[K], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (int k = 0; k < K; k++) acc[k] = _mm256_set1_ps(float(k + 1) / K);
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 16
    for (int k = 0; k < K; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
  }
  float s = 0;
  for (int k = 0; k < K; k++) s += _mm256_cvtss_f32(acc[k]);
  return s;
}

template <int K> __attribute__((noinline, target("avx512f"))) float avx512Fma(long n) {
  __m512 acc[K], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (int k = 0; k < K; k++) acc[k] = _mm512_set1_ps(float(k + 1) / K);
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 16
    for (int k = 0; k < K; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  }
  float s = 0;
  for (int k = 0; k < K; k++) s += _mm512_cvtss_f32(acc[k]);
  return s;
}

static float sink = 0;  // keeps every result live

// Serves calls on stdin/stdout so the bench can time them by this process's CPU time and
// interleave them with other work: each line "<loop> <K> <n>" runs n iterations (n = 0: none)
// and answers the wall milliseconds of the call; an unknown loop answers "error".
int main() {
  struct Loop { const char* name; int k; float (*fn)(long); };
  std::vector<Loop> loops = {
      {"sse-muladd", 12, sseMulAdd<12>}, {"sse-muladd", 14, sseMulAdd<14>},
      {"avx2-fma", 8, avx2Fma<8>},       {"avx2-fma", 12, avx2Fma<12>},
  };
  if (__builtin_cpu_supports("avx512f")) loops.insert(loops.end(), {{"avx512-fma", 8, avx512Fma<8>}, {"avx512-fma", 12, avx512Fma<12>}});
  char name[32];
  int k;
  long n;
  while (std::scanf("%31s %d %ld", name, &k, &n) == 3) {
    auto loop = std::find_if(loops.begin(), loops.end(), [&](const Loop& l) { return l.k == k && std::strcmp(l.name, name) == 0; });
    if (loop == loops.end()) {
      std::printf("error\n");
    } else {
      auto t0 = std::chrono::steady_clock::now();
      if (n > 0) sink += loop->fn(n);
      std::printf("%.6f\n", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::fflush(stdout);
  }
  return sink == 12345.f;  // never true; stops the compiler from dropping the loops
}
