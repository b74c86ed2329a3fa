#include "runtime/whisper/whisper_model.h"

#include <cstring>

#include "common/error.h"
#include "common/fp16.h"
#include "ops/packed_row.h"

namespace qasr::whisper {
namespace {

int positive(const Json& m, const char* key) {
  const int64_t v = m[key].as_int();
  if (v <= 0 || v > (int64_t{1} << 24)) invalid("$.model." + std::string(key) + " must be a positive integer");
  return static_cast<int>(v);
}

std::vector<int> ids(const Json& arr, int vocab) {
  std::vector<int> out;
  for (int64_t v : arr.int_array()) {
    if (v < 0 || v >= vocab) invalid(arr.path() + ": token id " + std::to_string(v) + " is outside the vocabulary");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

}  // namespace

std::shared_ptr<const Model> Model::load(const std::string& path, const OpenOptions& opts) {
  return std::make_shared<const Model>(QasrFile::open(path, opts));
}

Model::Model(std::shared_ptr<const QasrFile> file) : file_(std::move(file)) {
  const QasrFile& f = *file_;
  const Json& h = f.header();
  const Json& m = h["model"];
  if (m["family"].as_string() != "whisper") {
    invalid(f.source() + ": model family is '" + m["family"].as_string() + "', not 'whisper'");
  }
  try {
    Dims& d = dims_;
    d.n_mels = positive(m, "n_mels");
    d.d_model = positive(m, "d_model");
    d.encoder_layers = positive(m, "encoder_layers");
    d.encoder_heads = positive(m, "encoder_heads");
    d.encoder_ffn = positive(m, "encoder_ffn_dim");
    d.decoder_layers = positive(m, "decoder_layers");
    d.decoder_heads = positive(m, "decoder_heads");
    d.decoder_ffn = positive(m, "decoder_ffn_dim");
    d.vocab = positive(m, "vocab_size");
    d.source_positions = positive(m, "max_source_positions");
    d.target_positions = positive(m, "max_target_positions");
    d.eps = static_cast<float>(m.double_or("layer_norm_eps", 1e-5));
    if (m.string_or("activation", "gelu") != "gelu") invalid("$.model.activation must be 'gelu'");
    if (m.int_or("conv_kernel", 3) != 3) invalid("$.model.conv_kernel must be 3");
    if (d.d_model % d.encoder_heads || d.d_model % d.decoder_heads) {
      invalid("$.model: d_model is not a multiple of the head counts");
    }
    // Whisper's encoder sees exactly 30 s: 3000 mel frames, halved by conv2.
    if (d.source_positions * 2 != WhisperMel::kFrames) {
      invalid("$.model.max_source_positions must be " + std::to_string(WhisperMel::kFrames / 2));
    }
    const int64_t D = d.d_model;

    const Json& g = m["generation"];
    gen_.prompt = ids(g["prompt"], d.vocab);
    if (gen_.prompt.empty()) invalid("$.model.generation.prompt is empty");
    gen_.eos = static_cast<int>(g["eos_token_id"].as_int());
    if (gen_.eos < 0 || gen_.eos >= d.vocab) invalid("$.model.generation.eos_token_id is outside the vocabulary");
    gen_.suppress = ids(g["suppress_tokens"], d.vocab);
    gen_.begin_suppress = ids(g["begin_suppress_tokens"], d.vocab);
    const int64_t max_new = g["max_new_tokens"].as_int();
    if (max_new <= 0 || max_new + static_cast<int64_t>(gen_.prompt.size()) > d.target_positions) {
      invalid("$.model.generation.max_new_tokens must be positive and fit max_target_positions with the prompt");
    }
    gen_.max_new_tokens = static_cast<int>(max_new);

    const Json& fe = h["frontend"];
    if (fe["kind"].as_string() != "whisper_logmel") invalid("$.frontend.kind must be 'whisper_logmel'");
    if (fe["sample_rate"].as_int() != WhisperMel::kSampleRate || fe["n_fft"].as_int() != WhisperMel::kNfft ||
        fe["hop_length"].as_int() != WhisperMel::kHop || fe["n_mels"].as_int() != d.n_mels) {
      invalid("$.frontend: only 16 kHz, n_fft 400, hop 160 with the model's n_mels is supported");
    }
    const std::string filters_name = fe["mel_filters"].as_string();
    const float* filters = f.f32(filters_name, {d.n_mels, WhisperMel::kBins});
    mel_ = std::make_unique<WhisperMel>(std::vector<float>(filters, filters + int64_t{d.n_mels} * WhisperMel::kBins),
                                        d.n_mels);

    const Json& tk = h["tokenizer"];
    if (tk["kind"].as_string() != "whisper_bpe") invalid("$.tokenizer.kind must be 'whisper_bpe'");
    const TensorInfo& tb = f.tensor(tk["bytes"].as_string());
    const TensorInfo& to = f.tensor(tk["offsets"].as_string());
    if (tb.packed || tb.dtype != DType::U8 || tb.shape.size() != 1) invalid("tensor '" + tb.name + "' must be 1-D u8");
    if (to.packed || to.dtype != DType::I32 || to.shape != std::vector<int64_t>{d.vocab + 1}) {
      invalid("tensor '" + to.name + "' must be i32 [vocab_size + 1]");
    }
    std::vector<int32_t> offsets(d.vocab + 1);
    std::memcpy(offsets.data(), to.data, offsets.size() * sizeof(int32_t));
    tok_ = std::make_unique<ByteBpeDecoder>(std::vector<uint8_t>(tb.data, tb.data + tb.nbytes), offsets,
                                            static_cast<int>(tk["special_begin"].as_int()));

    auto vec = [&](const std::string& name, int64_t n) { return f.f32(name, {n}); };
    auto norm = [&](const std::string& p) { return Norm{vec(p + ".weight", D), vec(p + ".bias", D)}; };
    auto lin = [&](const std::string& p, int64_t N, int64_t K, bool bias) {
      Linear l;
      l.w = f.matrix(p + ".weight", N, K);
      if (bias) l.bias = vec(p + ".bias", N);
      return l;
    };
    auto attn = [&](const std::string& p, const std::string& ln) {
      Attention a;
      a.norm = norm(ln);
      a.q = lin(p + ".q_proj", D, D, true);
      a.k = lin(p + ".k_proj", D, D, false);
      a.v = lin(p + ".v_proj", D, D, true);
      a.out = lin(p + ".out_proj", D, D, true);
      return a;
    };
    auto ffn = [&](const std::string& p, int64_t F) {
      Ffn x;
      x.norm = norm(p + ".final_layer_norm");
      x.fc1 = lin(p + ".fc1", F, D, true);
      x.fc2 = lin(p + ".fc2", D, F, true);
      return x;
    };
    conv1 = lin("model.encoder.conv1", D, 3 * int64_t{d.n_mels}, true);
    conv2 = lin("model.encoder.conv2", D, 3 * D, true);
    enc_positions = f.f32("model.encoder.embed_positions.weight", {d.source_positions, D});
    for (int i = 0; i < d.encoder_layers; ++i) {
      const std::string p = "model.encoder.layers." + std::to_string(i);
      enc.push_back({attn(p + ".self_attn", p + ".self_attn_layer_norm"), ffn(p, d.encoder_ffn)});
    }
    enc_norm = norm("model.encoder.layer_norm");
    dec_positions = f.f32("model.decoder.embed_positions.weight", {d.target_positions, D});
    for (int i = 0; i < d.decoder_layers; ++i) {
      const std::string p = "model.decoder.layers." + std::to_string(i);
      dec.push_back({attn(p + ".self_attn", p + ".self_attn_layer_norm"),
                     attn(p + ".encoder_attn", p + ".encoder_attn_layer_norm"), ffn(p, d.decoder_ffn)});
    }
    dec_norm = norm("model.decoder.layer_norm");
    proj = f.matrix("proj_out.weight", d.vocab, D);
    const std::string embedding = m.string_or("embedding", "tied");
    const std::string table = "model.decoder.embed_tokens.weight";
    if (embedding == "f32") {
      embed_f32 = f.f32(table, {d.vocab, D});
    } else if (embedding == "f16") {
      const TensorInfo& t = f.tensor(table);
      if (t.packed || t.dtype != DType::F16 || t.shape != std::vector<int64_t>{d.vocab, D}) {
        invalid("tensor '" + table + "' must be f16 [vocab_size, d_model]");
      }
      embed_f16 = reinterpret_cast<const uint16_t*>(t.data);
    } else if (embedding != "tied") {
      invalid("$.model.embedding must be 'tied', 'f32' or 'f16', got '" + embedding + "'");
    }
  } catch (const InvalidInput& e) {
    const std::string what = e.what();
    if (what.rfind(f.source(), 0) == 0) throw;
    invalid(f.source() + ": " + what);
  }
}

void Model::embedding(int token, float* out) const {
  const int64_t D = dims_.d_model;
  if (token < 0 || token >= dims_.vocab) invalid("whisper: token id " + std::to_string(token) + " is outside the vocabulary");
  if (embed_f32) {
    std::memcpy(out, embed_f32 + token * D, D * sizeof(float));
  } else if (embed_f16) {
    for (int64_t k = 0; k < D; ++k) out[k] = f16_to_f32(embed_f16[token * D + k]);
  } else {
    packed_row(proj, token, out);
  }
}

}  // namespace qasr::whisper
