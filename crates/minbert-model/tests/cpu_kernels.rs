//! The CPU backend's element-wise kernels that BERT leans on, as patched in vendor/burn-flex
//! (vendor/README.md): GELU with a rational erf, element-wise maps split across threads, and
//! random tensors drawn in parallel chunks. Sizes above the 16,384-element chunk take the
//! parallel paths; sizes below it the serial ones.

mod common;

use burn::tensor::{Device, Distribution, Tensor, TensorData, activation::gelu};
use common::values as floats;

const PARALLEL: usize = 200_001;

fn exact_gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

fn exact_gelu_grad(x: f64) -> f64 {
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)) + x * pdf
}

/// `n` points evenly over [-8, 8].
fn grid(n: usize) -> Vec<f32> {
    (0..n).map(|i| -8.0 + 16.0 * i as f32 / (n - 1) as f32).collect()
}

/// The largest |got - exact(x)| over the grid.
fn worst_error(xs: &[f32], got: &[f32], exact: fn(f64) -> f64) -> f64 {
    xs.iter()
        .zip(got)
        .map(|(&x, &y)| (y as f64 - exact(x as f64)).abs())
        .fold(0.0, f64::max)
}

#[test]
fn gelu_is_within_2e6_of_the_exact_erf_gelu() {
    let device = Device::flex();
    let xs = grid(PARALLEL);
    let ys = floats(gelu(Tensor::<1>::from_data(
        TensorData::new(xs.clone(), [PARALLEL]),
        &device,
    )));
    let worst = worst_error(&xs, &ys, exact_gelu);
    assert!(worst < 2e-6, "max |gelu - exact| = {worst:e}");
}

#[test]
fn gelu_gradient_is_within_2e6_of_the_exact_derivative() {
    let device = Device::flex().autodiff();
    let xs = grid(PARALLEL);
    let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [PARALLEL]), &device).require_grad();
    let grads = gelu(x.clone()).sum().backward();
    let gs = floats(x.grad(&grads).unwrap());
    let worst = worst_error(&xs, &gs, exact_gelu_grad);
    assert!(worst < 2e-6, "max |gelu' - exact| = {worst:e}");
}

#[test]
fn exp_is_within_2_ulp_and_keeps_its_limits() {
    // The branch-free exp (vendor/burn-flex, `exp_f32`) behind `exp`, softmax and GELU's
    // gradient, against f64's exp over the range of normal f32 results.
    let device = Device::flex();
    let xs: Vec<f32> = (0..PARALLEL)
        .map(|i| -87.0 + 175.0 * i as f32 / (PARALLEL - 1) as f32)
        .collect();
    let ys = floats(Tensor::<1>::from_data(TensorData::new(xs.clone(), [PARALLEL]), &device).exp());
    let worst_ulps = xs
        .iter()
        .zip(&ys)
        .map(|(&x, &y)| {
            let exact = (x as f64).exp();
            let ulp = (exact as f32).next_up() as f64 - exact as f32 as f64;
            (y as f64 - exact).abs() / ulp
        })
        .fold(0.0, f64::max);
    assert!(worst_ulps <= 2.0, "worst error {worst_ulps} ulp");
    let specials = [0.0, f32::NEG_INFINITY, -100.0, 89.0, f32::INFINITY, f32::NAN];
    let got = floats(Tensor::<1>::from_data(TensorData::new(specials.to_vec(), [6]), &device).exp());
    assert_eq!(got[..5], [1.0, 0.0, 0.0, f32::INFINITY, f32::INFINITY]);
    assert!(got[5].is_nan());
}

#[test]
fn softmax_rows_sum_to_one_and_match_f64() {
    let device = Device::flex();
    let (rows, cols) = (64, 67);
    let xs: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 50.0 - 10.0)
        .collect();
    let ys = floats(burn::tensor::activation::softmax(
        Tensor::<2>::from_data(TensorData::new(xs.clone(), [rows, cols]), &device),
        1,
    ));
    for (x, y) in xs.chunks(cols).zip(ys.chunks(cols)) {
        let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
        let total: f64 = x.iter().map(|&v| (v as f64 - max).exp()).sum();
        for (&xi, &yi) in x.iter().zip(y) {
            let exact = (xi as f64 - max).exp() / total;
            assert!((yi as f64 - exact).abs() < 1e-6 * exact.max(1e-3), "{yi} vs {exact}");
        }
    }
}

#[test]
fn parallel_gelu_equals_serial_gelu_bit_for_bit() {
    let device = Device::flex();
    let xs = grid(PARALLEL);
    let input = Tensor::<1>::from_data(TensorData::new(xs.clone(), [PARALLEL]), &device);
    // A shared input cannot be overwritten: GELU then maps into a new buffer.
    let shared = floats(gelu(input.clone()));
    let whole = floats(gelu(input));
    assert_eq!(shared, whole);
    let pieces: Vec<f32> = xs
        .chunks(1000)
        .flat_map(|c| {
            floats(gelu(Tensor::<1>::from_data(
                TensorData::new(c.to_vec(), [c.len()]),
                &device,
            )))
        })
        .collect();
    assert_eq!(whole, pieces);
}

#[test]
fn parallel_binary_ops_equal_serial_ones_bit_for_bit() {
    let device = Device::flex();
    let a = grid(PARALLEL);
    let b: Vec<f32> = a.iter().map(|x| x.sin() + 2.0).collect();
    let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
    // powf has no SIMD kernel, so it runs the generic element-wise path.
    let serial: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| y.powf(x)).collect();
    let (base, exponent) = (t(&b), t(&a));
    // Both operands shared: the result goes to a new buffer.
    assert_eq!(floats(base.clone().powf(exponent.clone())), serial);
    // Both unique: the result overwrites the base.
    assert_eq!(floats(base.powf(exponent)), serial);
}

#[test]
fn broadcast_binary_ops_split_across_threads_equal_serial_ones_bit_for_bit() {
    // A unique left operand is overwritten through the broadcast loop nest, split along its
    // first dim into tasks; the right operand's offset must follow each task's rows.
    let device = Device::flex();
    for (d0, d1, d2) in [(600, 1, 67), (8, 40, 64)] {
        let base: Vec<f32> = (0..d0 * d1 * d2).map(|i| 1.0 + (i % 97) as f32 / 97.0).collect();
        // One exponent row per index of the first dim, broadcast over the second.
        let exponent: Vec<f32> = (0..d0 * d2).map(|i| ((i * 31) % 50) as f32 / 25.0 - 1.0).collect();
        let serial: Vec<f32> = base
            .iter()
            .enumerate()
            .map(|(i, &b)| b.powf(exponent[(i / (d1 * d2)) * d2 + i % d2]))
            .collect();
        let lhs = Tensor::<3>::from_data(TensorData::new(base, [d0, d1, d2]), &device);
        let rhs = Tensor::<3>::from_data(TensorData::new(exponent, [d0, 1, d2]), &device);
        assert_eq!(floats(lhs.powf(rhs)), serial, "[{d0}, {d1}, {d2}]");
    }
}

#[test]
fn seeded_random_tensors_repeat_and_have_the_right_distribution() {
    let device = Device::flex();
    let draw = |seed: u64, n: usize| {
        device.seed(seed);
        floats(Tensor::<1>::random([n], Distribution::Bernoulli(0.9), &device))
    };
    for n in [1000, PARALLEL] {
        let first = draw(7, n);
        assert_eq!(first, draw(7, n), "same seed, n = {n}");
        assert_ne!(first, draw(8, n), "other seed, n = {n}");
        assert!(first.iter().all(|&v| v == 0.0 || v == 1.0));
        let mean = first.iter().sum::<f32>() / n as f32;
        assert!((mean - 0.9).abs() < 0.03, "n = {n}: mean {mean}");
    }
    // Dropout's masks at the probabilities' ends and in between; chunks are independent.
    for p in [0.0, 0.1, 0.5, 1.0] {
        device.seed(3);
        let mask = floats(Tensor::<1>::random([PARALLEL], Distribution::Bernoulli(p), &device));
        let mean = mask.iter().sum::<f32>() / PARALLEL as f32;
        assert!((f64::from(mean) - p).abs() < 0.005, "p = {p}: mean {mean}");
        if p > 0.0 && p < 1.0 {
            assert_ne!(mask[..16_384], mask[16_384..32_768], "p = {p}");
        }
    }
    // Successive draws after one seed differ (chunks do not repeat one another either).
    device.seed(7);
    let a = floats(Tensor::<1>::random([PARALLEL], Distribution::Default, &device));
    let b = floats(Tensor::<1>::random([PARALLEL], Distribution::Default, &device));
    assert_ne!(a, b);
    assert_ne!(a[..16_384], a[16_384..32_768]);
    let mean = a.iter().sum::<f32>() / a.len() as f32;
    assert!((mean - 0.5).abs() < 0.01, "uniform mean {mean}");
}

#[test]
fn simd_binary_kernels_split_across_threads_equal_scalar_ones_bit_for_bit() {
    // Same-shape contiguous f32 operands take the SIMD in-place kernels, split into 16,384-element
    // chunks across threads: into the left operand when it is unique, else into the right one
    // (with reversed kernels for `-` and `/`). IEEE `+ - * /` round the same in SIMD lanes.
    type TensorOp = fn(Tensor<1>, Tensor<1>) -> Tensor<1>;
    type ScalarOp = fn(f32, f32) -> f32;
    let device = Device::flex();
    let n = PARALLEL;
    let a: Vec<f32> = grid(n).iter().map(|x| x * 1.37 + 0.1).collect();
    let b: Vec<f32> = a.iter().map(|x| x.cos() + 2.5).collect();
    let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [n]), &device);
    let scalar = |op: ScalarOp| -> Vec<f32> { a.iter().zip(&b).map(|(&x, &y)| op(x, y)).collect() };
    let ops: [(&str, TensorOp, ScalarOp); 4] = [
        ("add", |x, y| x + y, |x, y| x + y),
        ("sub", |x, y| x - y, |x, y| x - y),
        ("mul", |x, y| x * y, |x, y| x * y),
        ("div", |x, y| x / y, |x, y| x / y),
    ];
    for (name, op, reference) in ops {
        let expected = scalar(reference);
        assert_eq!(floats(op(t(&a), t(&b))), expected, "{name}, into the left operand");
        let shared_lhs = t(&a);
        let swapped = floats(op(shared_lhs.clone(), t(&b)));
        assert_eq!(swapped, expected, "{name}, into the right operand");
        drop(shared_lhs);
    }
}

/// `[m, k] · [k, n]` in f64 from row-major values.
fn reference_product(lhs: &[f32], rhs: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for p in 0..k {
            let l = lhs[i * k + p] as f64;
            for j in 0..n {
                out[i * n + j] += l * rhs[p * n + j] as f64;
            }
        }
    }
    out
}

fn assert_close(got: &[f32], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()),
            "{what}: [{i}] {g} vs {e}"
        );
    }
}

#[test]
fn matmul_outputs_are_fully_written_on_odd_shapes() {
    // gemm writes the product into a buffer that is not zeroed first (vendor patch 0013). Each
    // product follows a dropped NaN tensor of its output's size, whose freed buffer the
    // allocator hands out again: an element gemm did not write would stay NaN.
    let device = Device::flex();
    let values = |len: usize, seed: usize| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    };
    // Serial and threaded (over 128^3 multiply-adds) products, odd sizes, one row or column.
    for (m, k, n) in [(1, 1, 1), (37, 129, 65), (1, 300, 17), (211, 161, 97), (130, 131, 129)] {
        let (l, r) = (values(m * k, 1), values(k * n, 2));
        drop(Tensor::<2>::full([m, n], f32::NAN, &device));
        let lhs = Tensor::<2>::from_data(TensorData::new(l.clone(), [m, k]), &device);
        let rhs = Tensor::<2>::from_data(TensorData::new(r.clone(), [k, n]), &device);
        let expected = reference_product(&l, &r, (m, k, n));
        assert_close(
            &floats(lhs.clone().matmul(rhs.clone())),
            &expected,
            &format!("{m}x{k}x{n}"),
        );
        // A transposed view on the left: the weight-gradient layout.
        let columns: Vec<f32> = (0..k * m).map(|i| l[(i % m) * k + i / m]).collect();
        let lhs_t = Tensor::<2>::from_data(TensorData::new(columns, [k, m]), &device).transpose();
        assert_close(
            &floats(lhs_t.matmul(rhs)),
            &expected,
            &format!("{m}x{k}x{n}, strided lhs"),
        );
    }
    // Batched, the right operand broadcast over the batch: each matrix written in full.
    let (b, m, k, n) = (5, 23, 19, 31);
    let (l, r) = (values(b * m * k, 3), values(k * n, 4));
    drop(Tensor::<3>::full([b, m, n], f32::NAN, &device));
    let lhs = Tensor::<3>::from_data(TensorData::new(l.clone(), [b, m, k]), &device);
    let rhs = Tensor::<3>::from_data(TensorData::new(r.clone(), [1, k, n]), &device);
    let got = floats(lhs.matmul(rhs));
    for i in 0..b {
        let expected = reference_product(&l[i * m * k..(i + 1) * m * k], &r, (m, k, n));
        assert_close(&got[i * m * n..(i + 1) * m * n], &expected, &format!("batch {i}"));
    }
    // No inner dimension: the product is all zeros.
    drop(Tensor::<2>::full([6, 9], f32::NAN, &device));
    let empty = Tensor::<2>::zeros([6, 0], &device).matmul(Tensor::<2>::zeros([0, 9], &device));
    assert_eq!(floats(empty), vec![0.0; 54]);
}
