//! One adapted layer against the formulas, computed by hand in PyTorch's layout: LoRA and DoRA
//! forward, merging, initialisation, and dropout on the adapter's input only.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use burn_peft::{AdaptedLinear, LoraConfig, LoraInit, TargetModules};

const D_IN: usize = 3;
const D_OUT: usize = 2;
const R: usize = 2;
/// PyTorch layouts: W `[out, in]`, A `[r, in]`, B `[out, r]`.
const W: [[f32; D_IN]; D_OUT] = [[0.5, -1.0, 0.25], [2.0, 0.0, -0.5]];
const BIAS: [f32; D_OUT] = [0.1, -0.2];
const A: [[f32; D_IN]; R] = [[0.3, 0.1, -0.2], [-0.4, 0.5, 0.6]];
const B: [[f32; R]; D_OUT] = [[0.7, -0.1], [0.2, 0.9]];
const M: [f32; D_OUT] = [1.5, 0.8];
const X: [[f32; D_IN]; 2] = [[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]];

fn tensor2<const C: usize>(rows: &[[f32; C]], device: &Device) -> Tensor<2> {
    let values: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(values, [rows.len(), C]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// A layer holding W, b and an adapter with A, B (and m for DoRA), in Burn's layouts.
fn layer(use_dora: bool, device: &Device) -> (AdaptedLinear, f64) {
    let base = Linear {
        weight: Param::from_tensor(tensor2(&W, device).transpose()),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(BIAS.to_vec(), [D_OUT]),
            device,
        ))),
    };
    let config = LoraConfig::new(TargetModules::AllLinear)
        .with_r(R)
        .with_lora_alpha(3.0)
        .with_use_dora(use_dora);
    let mut layer = AdaptedLinear::new(base);
    layer.attach(&config).unwrap();
    let adapter = layer.adapter.as_mut().unwrap();
    adapter.lora_a = Param::from_tensor(tensor2(&A, device).transpose());
    adapter.lora_b = Param::from_tensor(tensor2(&B, device).transpose());
    if use_dora {
        adapter.magnitude = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(M.to_vec(), [D_OUT]),
            device,
        )));
    }
    (layer, config.scaling())
}

/// `W + s B A` in `[out, in]`.
fn adapted_weight(s: f32) -> [[f32; D_IN]; D_OUT] {
    let mut w = W;
    for o in 0..D_OUT {
        for i in 0..D_IN {
            w[o][i] += s * (0..R).map(|k| B[o][k] * A[k][i]).sum::<f32>();
        }
    }
    w
}

/// By hand: LoRA `x W^T + b + s (x A^T) B^T` = `x (W + s B A)^T + b`; DoRA
/// `(m / n) (x (W + s B A)^T) + b`, n the row norms of `W + s B A`.
fn expected(use_dora: bool, s: f32) -> Vec<f32> {
    let w = adapted_weight(s);
    let mut out = Vec::new();
    for x in X {
        for o in 0..D_OUT {
            let mut y: f32 = (0..D_IN).map(|i| x[i] * w[o][i]).sum();
            if use_dora {
                let n = w[o].iter().map(|v| v * v).sum::<f32>().sqrt();
                y *= M[o] / n;
            }
            out.push(y + BIAS[o]);
        }
    }
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn lora_and_dora_forward_match_the_formulas() {
    let device = Device::flex();
    for use_dora in [false, true] {
        let (layer, s) = layer(use_dora, &device);
        assert_eq!(s, 1.5);
        let got = values(layer.forward(tensor2(&X, &device)));
        let diff = max_diff(&got, &expected(use_dora, s as f32));
        assert!(diff < 1e-6, "dora {use_dora}: {diff}");
        // A rank-3 input (batch, seq, in) gives the same rows.
        let x3 = tensor2(&X, &device).reshape([1, 2, D_IN]);
        assert_eq!(values(layer.forward(x3)), got);
    }
}

#[test]
fn merge_folds_the_adapter_in_and_unmerge_restores_the_base() {
    let device = Device::flex();
    for use_dora in [false, true] {
        let (mut layer, s) = layer(use_dora, &device);
        let before = values(layer.forward(tensor2(&X, &device)));
        let merged = layer.merged();
        let mut w = adapted_weight(s as f32);
        if use_dora {
            for (o, row) in w.iter_mut().enumerate() {
                let n = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter_mut().for_each(|v| *v *= M[o] / n);
            }
        }
        let want: Vec<f32> = (0..D_IN).flat_map(|i| w.iter().map(move |row| row[i])).collect();
        assert!(max_diff(&values(merged.weight.val()), &want) < 1e-6, "dora {use_dora}");
        assert_eq!(values(merged.bias.unwrap().val()), BIAS.to_vec());

        layer.merge();
        assert!(layer.is_merged());
        assert_eq!(values(layer.base.weight.val()), values(layer.merged().weight.val()));
        assert!(max_diff(&values(layer.forward(tensor2(&X, &device))), &before) < 1e-6);
        layer.merge(); // twice is once
        layer.unmerge();
        assert!(!layer.is_merged());
        let base: Vec<f32> = (0..D_IN).flat_map(|i| W.iter().map(move |row| row[i])).collect();
        assert!(
            max_diff(&values(layer.base.weight.val()), &base) < 1e-6,
            "dora {use_dora}"
        );
        assert!(max_diff(&values(layer.forward(tensor2(&X, &device))), &before) < 1e-6);
    }
}

#[test]
fn the_base_is_frozen_and_gets_no_gradient() {
    let device = Device::flex().autodiff();
    for use_dora in [false, true] {
        // `attach` froze the base that `layer` built trainable.
        let (layer, _) = layer(use_dora, &device);
        let grads = layer.forward(tensor2(&X, &device)).sum().backward();
        assert!(layer.base.weight.grad(&grads).is_none());
        assert!(layer.base.bias.as_ref().unwrap().grad(&grads).is_none());
        let adapter = layer.adapter.as_ref().unwrap();
        assert!(adapter.lora_a.grad(&grads).is_some());
        assert!(adapter.lora_b.grad(&grads).is_some());
        assert_eq!(
            adapter.magnitude.as_ref().map(|m| m.grad(&grads).is_some()),
            use_dora.then_some(true)
        );
    }
}

/// The gradients of `sum(forward(x) * c)` for every parameter of `layer` and for `x`, flat.
fn gradients(layer: &AdaptedLinear, loss: Tensor<1>, x: &Tensor<3>) -> Vec<Vec<f32>> {
    let grads = loss.backward();
    let mut out = vec![values(x.grad(&grads).expect("x is tracked"))];
    if let Some(adapter) = &layer.adapter {
        out.push(values(adapter.lora_a.grad(&grads).unwrap()));
        out.push(values(adapter.lora_b.grad(&grads).unwrap()));
        out.extend(adapter.magnitude.as_ref().map(|m| values(m.grad(&grads).unwrap())));
    } else {
        out.push(values(layer.base.weight.grad(&grads).unwrap()));
        out.push(values(layer.base.bias.as_ref().unwrap().grad(&grads).unwrap()));
    }
    out
}

#[test]
fn batched_inputs_give_each_sequence_its_rows_and_gradients() {
    // The layer folds [batch, seq, in] into rows before its products; each sequence on its own,
    // as a [seq, in] input, must give the same outputs, and the gradients must add up.
    let device = Device::flex().autodiff();
    let (batch, seq, d_in, d_out) = (3, 5, 16, 12);
    let random = |dims: [usize; 3]| Tensor::<3>::random(dims, Distribution::Normal(0.0, 1.0), &device);
    let (x, c) = (random([batch, seq, d_in]).require_grad(), random([batch, seq, d_out]));
    for adapter in [None, Some(false), Some(true)] {
        let mut layer = AdaptedLinear::new(LinearConfig::new(d_in, d_out).init(&device));
        if let Some(use_dora) = adapter {
            let config = LoraConfig::new(TargetModules::AllLinear)
                .with_r(4)
                .with_use_dora(use_dora)
                .with_init_lora_weights(LoraInit::Random);
            layer.attach(&config).unwrap();
        }
        let y = layer.forward(x.clone());
        let batched = gradients(&layer, (y.clone() * c.clone()).sum(), &x);
        let mut loss = Tensor::<1>::zeros([1], &device);
        for b in 0..batch {
            let rows = |t: &Tensor<3>| t.clone().narrow(0, b, 1).reshape([seq, t.dims()[2]]);
            let y_b = layer.forward(rows(&x));
            assert!(
                max_diff(&values(rows(&y)), &values(y_b.clone())) < 1e-5,
                "{adapter:?}: outputs of sequence {b}"
            );
            loss = loss + (y_b * rows(&c)).sum();
        }
        let one_by_one = gradients(&layer, loss, &x);
        for (got, want) in batched.iter().zip(&one_by_one) {
            assert!(max_diff(got, want) < 1e-4, "{adapter:?}: gradients {got:?} vs {want:?}");
        }
    }
}

fn init(kind: LoraInit, use_dora: bool) -> AdaptedLinear {
    let device = Device::flex();
    let mut layer = AdaptedLinear::new(LinearConfig::new(384, 256).init(&device));
    layer
        .attach(
            &LoraConfig::new(TargetModules::AllLinear)
                .with_r(8)
                .with_init_lora_weights(kind)
                .with_use_dora(use_dora),
        )
        .unwrap();
    layer
}

#[test]
fn initialisation_follows_peft() {
    // Default: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0, so the layer starts as its base.
    let layer = init(LoraInit::KaimingUniform, false);
    let adapter = layer.adapter.as_ref().unwrap();
    let a = values(adapter.lora_a.val());
    let bound = 1.0 / (384f32).sqrt();
    assert!(a.iter().all(|v| v.abs() <= bound));
    assert!(a.iter().map(|v| v.abs()).fold(0.0, f32::max) > 0.9 * bound);
    assert!(values(adapter.lora_b.val()).iter().all(|&v| v == 0.0));
    assert_eq!(adapter.lora_a.val().dims(), [384, 8]);
    assert_eq!(adapter.lora_b.val().dims(), [8, 256]);

    // "gaussian": A ~ N(0, std 1/r).
    let layer = init(LoraInit::Gaussian, false);
    let a = values(layer.adapter.as_ref().unwrap().lora_a.val());
    let std = (a.iter().map(|v| v * v).sum::<f32>() / a.len() as f32).sqrt();
    assert!((std - 0.125).abs() < 0.01, "std {std}");
    assert!(
        values(layer.adapter.as_ref().unwrap().lora_b.val())
            .iter()
            .all(|&v| v == 0.0)
    );

    // false: B random too, U(-1/sqrt(r), 1/sqrt(r)).
    let layer = init(LoraInit::Random, false);
    let b = values(layer.adapter.as_ref().unwrap().lora_b.val());
    assert!(b.iter().all(|v| v.abs() <= 1.0 / 8f32.sqrt()) && b.iter().any(|&v| v != 0.0));

    // DoRA: m = the column norms of W (B = 0), i.e. PEFT's row norms of W [out, in].
    let layer = init(LoraInit::KaimingUniform, true);
    let w = values(layer.base.weight.val());
    let norms: Vec<f32> = (0..256)
        .map(|o| (0..384).map(|i| w[i * 256 + o].powi(2)).sum::<f32>().sqrt())
        .collect();
    let m = values(layer.adapter.as_ref().unwrap().magnitude.as_ref().unwrap().val());
    assert!(max_diff(&m, &norms) < 1e-5);
}

#[test]
fn dropout_applies_to_the_adapter_input_only() {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::random([64, 384], Distribution::Normal(0.0, 1.0), &device);
    let config = LoraConfig::new(TargetModules::AllLinear).with_lora_dropout(0.5);
    let base = LinearConfig::new(384, 256).init(&device);
    let mut layer = AdaptedLinear::new(base.clone());
    layer.attach(&config).unwrap();
    // B = 0: whatever dropout does to the adapter's input, the output is the base's on the
    // undropped input.
    assert_eq!(values(layer.forward(x.clone())), values(base.forward(x.clone())));
    // With B != 0 dropout is live in training (two passes differ) and off in validation.
    layer
        .attach(&config.clone().with_init_lora_weights(LoraInit::Random))
        .unwrap();
    assert_ne!(values(layer.forward(x.clone())), values(layer.forward(x.clone())));
    let eval = burn::module::Module::valid(&layer);
    let x = x.without_autodiff();
    assert_eq!(values(eval.forward(x.clone())), values(eval.forward(x)));
}
