//! A BERT-class sentence encoder (e.g. all-MiniLM-L6-v2) run on the CPU with candle: the
//! directory's `tokenizer.json`, `config.json` and `model.safetensors`, mean pooling over the
//! attention mask, L2-normalised output. Loaded from disk only; nothing is downloaded.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::SemanticError;

/// Longest input in tokens; the model was trained on up to 128 (longer text adds little).
const MAX_TOKENS: usize = 128;

/// A loaded encoder.
pub(super) struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

fn load_error(file: &Path, error: impl std::fmt::Display) -> SemanticError {
    SemanticError::Load(format!("{}: {error}", file.display()))
}

impl Encoder {
    /// Loads the model files from `dir`.
    pub(super) fn load(dir: &Path) -> Result<Encoder, SemanticError> {
        let device = Device::Cpu;
        let config_path = dir.join("config.json");
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| load_error(&config_path, e))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| load_error(&config_path, e))?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| load_error(&tokenizer_path, e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| load_error(&tokenizer_path, e))?;
        let weights_path = dir.join("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| load_error(&weights_path, e))?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| load_error(&weights_path, e))?;
        let model = BertModel::load(vb, &config).map_err(|e| load_error(&weights_path, e))?;
        Ok(Encoder {
            model,
            tokenizer,
            device,
        })
    }

    /// One unit-length vector per text.
    pub(super) fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| SemanticError::Embed(e.to_string()))?;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let rows = |f: fn(&tokenizers::Encoding) -> &[u32]| -> candle_core::Result<Tensor> {
                let rows = encodings
                    .iter()
                    .map(|e| Tensor::new(f(e), &self.device))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                Tensor::stack(&rows, 0)
            };
            let ids = rows(tokenizers::Encoding::get_ids)?;
            let types = rows(tokenizers::Encoding::get_type_ids)?;
            let mask = rows(tokenizers::Encoding::get_attention_mask)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // Mean over the real (unpadded) tokens, then unit length.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            mean.broadcast_div(&norms)?.to_vec2::<f32>()
        };
        run().map_err(|e| SemanticError::Embed(e.to_string()))
    }
}
