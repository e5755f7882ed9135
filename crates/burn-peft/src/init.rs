//! The factors of a new adapter, as PEFT's `init_lora_weights` makes them, for both paths
//! ([`AdaptedLinear`](crate::AdaptedLinear) and the weight-space [`PeftModel`](crate::PeftModel)).
//!
//! Layout: the base weight is Burn's `[in, out]`; `a` is `[in, r]`, `b` is `[r, out]` (PEFT's
//! `lora_A.weight` and `lora_B.weight` transposed). PiSSA and OLoRA factor the weight on the host
//! in f32 (nalgebra's SVD and QR), as PEFT does in float32.

use burn::tensor::{DType, Distribution, Tensor, TensorData};
use nalgebra::DMatrix;

use crate::config::{LoraConfig, LoraInit};
use crate::error::PeftError;
use crate::weights::LayerKind;

/// A new adapter's factors, and the base weight it leaves (PiSSA and OLoRA take their factors
/// out of the weight; the other inits leave it as it is).
pub(crate) struct NewFactors {
    pub a: Tensor<2>,
    pub b: Tensor<2>,
    pub residual: Option<Tensor<2>>,
}

/// The factors `config` starts an adapter with on the `[in, out]` weight `weight` of a layer of
/// `kind`. `module` names the layer in errors.
pub(crate) fn new_factors(
    config: &LoraConfig,
    weight: &Tensor<2>,
    kind: LayerKind,
    module: &str,
) -> Result<NewFactors, PeftError> {
    let [d_in, d_out] = weight.dims();
    let r = config.r;
    let device = weight.device();
    // Built at the base's precision: the factors meet its activations in ops that do not
    // promote dtypes.
    let dtype = weight.dtype();
    let options = (&device, dtype);
    // PyTorch's Linear default (Kaiming-uniform, a = sqrt 5) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    let kaiming = |fan_in: usize| Distribution::Uniform(-1.0 / (fan_in as f64).sqrt(), 1.0 / (fan_in as f64).sqrt());
    let random = |shape: [usize; 2], distribution| {
        device.memory_persistent_allocations((), |_| Tensor::<2>::random(shape, distribution, options))
    };
    let zeros = |shape: [usize; 2]| device.memory_persistent_allocations((), |_| Tensor::<2>::zeros(shape, options));
    if kind == LayerKind::Embedding {
        return embedding_factors(
            config,
            [d_in, d_out],
            module,
            &|shape| random(shape, Distribution::Normal(0.0, 1.0)),
            &zeros,
        );
    }
    Ok(match config.init_lora_weights {
        LoraInit::KaimingUniform => plain(random([d_in, r], kaiming(d_in)), zeros([r, d_out])),
        LoraInit::Gaussian => plain(
            random([d_in, r], Distribution::Normal(0.0, 1.0 / r as f64)),
            zeros([r, d_out]),
        ),
        LoraInit::Random => plain(random([d_in, r], kaiming(d_in)), random([r, d_out], kaiming(r))),
        LoraInit::Pissa | LoraInit::Olora => {
            if r > d_in.min(d_out) {
                return Err(PeftError::config(
                    "r",
                    format!(
                        "is {r}, but init_lora_weights {:?} takes r singular directions of {module} \
                         ([{d_out}, {d_in}]), which has at most {}",
                        config.init_lora_weights,
                        d_in.min(d_out)
                    ),
                ));
            }
            factor_weight(config, weight)
        }
    })
}

/// PEFT's start of an embedding's adapter: A zeros and B standard normal (`true`, `"gaussian"`),
/// or both standard normal (`false`). The weight-derived inits and DoRA are refused: PEFT has
/// them for embeddings, burn-peft not yet.
fn embedding_factors(
    config: &LoraConfig,
    [d_in, d_out]: [usize; 2],
    module: &str,
    normal: &dyn Fn([usize; 2]) -> Tensor<2>,
    zeros: &dyn Fn([usize; 2]) -> Tensor<2>,
) -> Result<NewFactors, PeftError> {
    let r = config.r;
    if config.use_dora {
        return Err(PeftError::config(
            "use_dora",
            format!("DoRA on the embedding {module} is not supported by burn-peft"),
        ));
    }
    Ok(match config.init_lora_weights {
        LoraInit::KaimingUniform | LoraInit::Gaussian => plain(zeros([d_in, r]), normal([r, d_out])),
        LoraInit::Random => plain(normal([d_in, r]), normal([r, d_out])),
        LoraInit::Pissa | LoraInit::Olora => {
            return Err(PeftError::config(
                "init_lora_weights",
                format!(
                    "{:?} on the embedding {module} is not supported by burn-peft",
                    config.init_lora_weights
                ),
            ));
        }
    })
}

fn plain(a: Tensor<2>, b: Tensor<2>) -> NewFactors {
    NewFactors { a, b, residual: None }
}

/// PiSSA (`W^T = U S V^T`: `a = U_r sqrt(S_r / s)`, `b = sqrt(S_r / s) V_r^T`) or OLoRA (PEFT's
/// QR of the `[out, in]` weight: `b = Q_r^T`, `a = R_r^T`), with the residual `W - s a b`.
fn factor_weight(config: &LoraConfig, weight: &Tensor<2>) -> NewFactors {
    let r = config.r;
    let scaling = config.scaling();
    let w = to_matrix(weight);
    let (a, b) = match config.init_lora_weights {
        LoraInit::Pissa => {
            let svd = w.clone().svd(true, true);
            let (u, v_t) = (svd.u.expect("computed"), svd.v_t.expect("computed"));
            let root = DMatrix::from_diagonal(&svd.singular_values.rows(0, r).map(|s| (s / scaling as f32).sqrt()));
            (u.columns(0, r) * &root, &root * v_t.rows(0, r))
        }
        _ => {
            let qr = w.transpose().qr();
            (qr.r().rows(0, r).transpose(), qr.q().columns(0, r).transpose())
        }
    };
    let residual = &w - (&a * &b) * scaling as f32;
    let (device, dtype) = (weight.device(), weight.dtype());
    let tensor = |m: &DMatrix<f32>| device.memory_persistent_allocations((), |_| from_matrix(m, &device).cast(dtype));
    NewFactors {
        a: tensor(&a),
        b: tensor(&b),
        residual: Some(tensor(&residual)),
    }
}

/// A 2-D tensor as an f32 matrix of the same shape.
pub(crate) fn to_matrix(tensor: &Tensor<2>) -> DMatrix<f32> {
    let [rows, cols] = tensor.dims();
    let values = tensor
        .clone()
        .cast(DType::F32)
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor");
    DMatrix::from_row_slice(rows, cols, &values)
}

/// An f32 matrix as a 2-D tensor of the same shape.
pub(crate) fn from_matrix(matrix: &DMatrix<f32>, device: &burn::tensor::Device) -> Tensor<2> {
    let values: Vec<f32> = matrix.transpose().iter().copied().collect();
    Tensor::from_data(TensorData::new(values, [matrix.nrows(), matrix.ncols()]), device)
}
