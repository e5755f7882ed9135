//! Forward + backward of all-MiniLM-L6-v2 in f32, bf16 and f16 on the flex CPU backend:
//! does half precision work here, and is it faster? (`cargo run --release -p minbert-train
//! --example precision_probe -- MODEL_DIR`)

use std::time::Instant;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use minbert_data::TensorSide;
use minbert_model::load_pretrained;
use minbert_task::Pooling;
use minbert_task::model::encode;
use minbert_train::params::cast_params;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: precision_probe MODEL_DIR");
    let device = Device::flex().autodiff();
    let (_, bert) = load_pretrained(std::path::Path::new(&dir), &device).unwrap();
    let (b, s) = (16usize, 48usize);
    let ids: Vec<i64> = (0..b * s).map(|i| 1000 + (i as i64 * 7919) % 20000).collect();
    let ints = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [b, s]), &device);
    let side = TensorSide {
        input_ids: ints(ids),
        attention_mask: ints(vec![1; b * s]),
        token_type_ids: ints(vec![0; b * s]),
    };
    let mut reference: Option<Vec<f32>> = None;
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let model = cast_params(bert.clone(), dtype);
        let mut times = Vec::new();
        let mut out = Vec::new();
        for _ in 0..4 {
            let t = Instant::now();
            let pooled = encode(&model, &side, Pooling::Mean);
            let loss = pooled.clone().cast(DType::F32).square().mean();
            let _grads = loss.backward();
            out = pooled.cast(DType::F32).into_data().try_to_vec::<f32>().unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let err = reference
            .as_ref()
            .map(|r| r.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max));
        if reference.is_none() {
            reference = Some(out);
        }
        println!(
            "{dtype:?}: fwd+bwd {:?} ms, max abs diff vs f32 {err:?}",
            times.iter().map(|t| t.round()).collect::<Vec<_>>()
        );
    }
}
