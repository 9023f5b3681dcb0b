#include "reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "zemla/error.hpp"

namespace zemla::reference {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Softmax-weighted sum over `len` rows: scores[t] are already scaled.
// Accumulates weights into out via add_row(t, weight); returns natural LSE.
template <typename AddRow>
double softmax_accumulate(const std::vector<double>& scores, AddRow add_row) {
  if (scores.empty()) return kNegInf;
  const double m = *std::max_element(scores.begin(), scores.end());
  double sum = 0;
  for (double s : scores) sum += std::exp(s - m);
  for (std::size_t t = 0; t < scores.size(); ++t) add_row(t, std::exp(scores[t] - m) / sum);
  return m + std::log(sum);
}

}  // namespace

std::vector<double> mla_absorbed_head(std::span<const double> q, std::span<const double> latent, int len,
                                      double sm_scale, double* lse) {
  std::vector<double> scores(len);
  for (int t = 0; t < len; ++t) {
    double s = 0;
    for (int d = 0; d < mla::kRowDim; ++d) s += q[d] * latent[std::size_t(t) * mla::kRowDim + d];
    scores[t] = s * sm_scale;
  }
  std::vector<double> out(mla::kLatentDim, 0.0);
  const double l = softmax_accumulate(scores, [&](std::size_t t, double w) {
    for (int c = 0; c < mla::kLatentDim; ++c) out[c] += w * latent[t * mla::kRowDim + c];
  });
  if (lse != nullptr) *lse = l;
  return out;
}

DecodeResult mla_decode(const MlaProblem& p) {
  DecodeResult r;
  const int rows = p.rows();
  r.out.assign(std::size_t(p.batch) * rows * mla::kLatentDim, 0.0f);
  r.lse.assign(std::size_t(p.batch) * rows, -std::numeric_limits<float>::infinity());
  std::vector<double> latent;
  std::vector<double> q(mla::kRowDim);
  for (int b = 0; b < p.batch; ++b) {
    const int len = p.seqlens[b];
    require(len <= p.max_pages * p.page_size, "reference::mla_decode",
            "cache_seqlens[" + std::to_string(b) + "] = " + std::to_string(len) + " exceeds the page table");
    latent.assign(std::size_t(len) * mla::kRowDim, 0.0);
    for (int t = 0; t < len; ++t) {
      const int page = p.page_table[std::size_t(b) * p.max_pages + t / p.page_size];
      require(page >= 0 && page < p.num_pages, "reference::mla_decode",
              "page_table[" + std::to_string(b) + "][" + std::to_string(t / p.page_size) +
                  "] = " + std::to_string(page) + " is outside [0, " + std::to_string(p.num_pages) + ")");
      const std::size_t row = (std::size_t(page) * p.page_size + t % p.page_size) * mla::kRowDim;
      for (int d = 0; d < mla::kRowDim; ++d)
        latent[std::size_t(t) * mla::kRowDim + d] = double{to_float(p.dtype, p.kv_cache[row + d])} * p.kv_scale;
    }
    for (int h = 0; h < rows; ++h) {
      const std::size_t bh = std::size_t(b) * rows + h;
      // Query token h / heads of q_len, the request's last ones: the causal mask.
      const int visible = std::max(0, len - (p.q_len - 1 - h / p.heads));
      for (int d = 0; d < mla::kLatentDim; ++d) q[d] = to_float(p.dtype, p.q_nope[bh * mla::kLatentDim + d]);
      for (int d = 0; d < mla::kRopeDim; ++d)
        q[mla::kLatentDim + d] = to_float(p.dtype, p.q_rope[bh * mla::kRopeDim + d]);
      double lse = kNegInf;
      const auto out = mla_absorbed_head(q, latent, visible, p.sm_scale, &lse);
      for (int c = 0; c < mla::kLatentDim; ++c) r.out[bh * mla::kLatentDim + c] = static_cast<float>(out[c]);
      r.lse[bh] = static_cast<float>(lse);
    }
  }
  return r;
}

std::vector<double> absorb_query(std::span<const double> w_uk, int head_dim, std::span<const double> q_nope) {
  std::vector<double> q(mla::kLatentDim, 0.0);
  for (int i = 0; i < head_dim; ++i) {
    for (int c = 0; c < mla::kLatentDim; ++c) q[c] += w_uk[std::size_t(i) * mla::kLatentDim + c] * q_nope[i];
  }
  return q;
}

std::vector<double> unabsorb_output(std::span<const double> w_uv, int head_dim, std::span<const double> latent_out) {
  std::vector<double> out(head_dim, 0.0);
  for (int i = 0; i < head_dim; ++i) {
    for (int c = 0; c < mla::kLatentDim; ++c) out[i] += w_uv[std::size_t(i) * mla::kLatentDim + c] * latent_out[c];
  }
  return out;
}

std::vector<double> mla_naive_head(std::span<const double> w_uk, std::span<const double> w_uv, int head_dim,
                                   std::span<const double> q_nope, std::span<const double> q_rope,
                                   std::span<const double> latent, int len, double sm_scale) {
  std::vector<double> scores(len);
  std::vector<std::vector<double>> values(len);
  for (int t = 0; t < len; ++t) {
    const double* row = latent.data() + std::size_t(t) * mla::kRowDim;
    double s = 0;
    for (int i = 0; i < head_dim; ++i) {  // k_nope = W_UK c_kv, per head
      double k = 0;
      for (int c = 0; c < mla::kLatentDim; ++c) k += w_uk[std::size_t(i) * mla::kLatentDim + c] * row[c];
      s += q_nope[i] * k;
    }
    for (int d = 0; d < mla::kRopeDim; ++d) s += q_rope[d] * row[mla::kLatentDim + d];
    scores[t] = s * sm_scale;
    values[t].assign(head_dim, 0.0);  // v = W_UV c_kv, per head
    for (int i = 0; i < head_dim; ++i) {
      for (int c = 0; c < mla::kLatentDim; ++c) values[t][i] += w_uv[std::size_t(i) * mla::kLatentDim + c] * row[c];
    }
  }
  std::vector<double> out(head_dim, 0.0);
  softmax_accumulate(scores, [&](std::size_t t, double w) {
    for (int i = 0; i < head_dim; ++i) out[i] += w * values[t][i];
  });
  return out;
}

DecodeResult gqa_decode(const GqaProblem& p) {
  require(p.kv_heads > 0 && p.q_heads % p.kv_heads == 0, "reference::gqa_decode",
          "q_heads " + std::to_string(p.q_heads) + " must be a multiple of kv_heads " + std::to_string(p.kv_heads));
  DecodeResult r;
  r.out.assign(std::size_t(p.batch) * p.q_heads * p.head_dim, 0.0f);
  r.lse.assign(std::size_t(p.batch) * p.q_heads, -std::numeric_limits<float>::infinity());
  const int group = p.q_heads / p.kv_heads;
  for (int b = 0; b < p.batch; ++b) {
    const int len = p.seqlens[b];
    for (int h = 0; h < p.q_heads; ++h) {
      const int kvh = h / group;
      const std::size_t qoff = (std::size_t(b) * p.q_heads + h) * p.head_dim;
      auto kv_at = [&](int t) {
        const int page = p.page_table[std::size_t(b) * p.max_pages + t / p.page_size];
        return ((std::size_t(page) * p.page_size + t % p.page_size) * p.kv_heads + kvh) * p.head_dim;
      };
      // Keys before the window get a score of -inf: weight 0.
      const int first = p.window_left >= 0 ? std::max(0, len - 1 - p.window_left) : 0;
      std::vector<double> scores(len, -std::numeric_limits<double>::infinity());
      for (int t = first; t < len; ++t) {
        double s = 0;
        for (int d = 0; d < p.head_dim; ++d)
          s += double(to_float(p.dtype, p.q[qoff + d])) * to_float(p.dtype, p.k_cache[kv_at(t) + d]);
        s *= p.sm_scale;
        if (p.softcap > 0) s = p.softcap * std::tanh(s / p.softcap);
        scores[t] = s;
      }
      std::vector<double> out(p.head_dim, 0.0);
      const double lse = softmax_accumulate(scores, [&](std::size_t t, double w) {
        for (int d = 0; d < p.head_dim; ++d) out[d] += w * to_float(p.dtype, p.v_cache[kv_at(int(t)) + d]);
      });
      for (int d = 0; d < p.head_dim; ++d) r.out[qoff + d] = static_cast<float>(out[d]);
      r.lse[std::size_t(b) * p.q_heads + h] = static_cast<float>(lse);
    }
  }
  return r;
}

}  // namespace zemla::reference
