//! The benchmark's entry point on the default model (all-MiniLM-L6-v2), one tiny step per
//! mode on flex: the counts, FLOPs and JSON fields the comparison scripts read.

use minbert_bench::{BenchError, BenchMode, BenchOptions, BenchReport, StepReport, gemm_line, run};
use minbert_device::{ComputeDevice, open_device};
use minbert_task::Precision;

fn options(mode: BenchMode) -> BenchOptions {
    BenchOptions {
        model_dir: minbert_testkit::model_dir(),
        mode,
        precision: Precision::F32,
        batch: 2,
        seq: 8,
        warmup: 0,
        steps: 2,
        threads: 1,
        seed: 0,
        rank: 8,
        alpha: 16.0,
        targets: ["query", "key", "value", "attention.output.dense"]
            .map(String::from)
            .to_vec(),
    }
}

fn flex() -> ComputeDevice {
    open_device("flex").unwrap()
}

fn steps(mode: BenchMode) -> StepReport {
    let mut lines = Vec::new();
    let report = match run(&options(mode), &flex(), &mut |line| lines.push(line.to_string())).unwrap() {
        BenchReport::Steps(report) => report,
        BenchReport::Gemm(_) => panic!("{mode:?} ran the GEMM probe"),
    };
    assert_eq!(lines, [report.summary_line()], "one line, once the steps are timed");
    report
}

#[test]
fn inference_counts_the_forward_flops_of_the_shapes() {
    let report = steps(BenchMode::Infer);
    assert_eq!((report.trainable_params, report.total_params), (0, 22_715_141));
    assert_eq!(report.step_ms.len(), 2);
    assert!(report.examples_per_s > 0.0 && report.last_value.is_finite());
    // Per token and layer: q, k, v, o (8·384²), the FFN (4·384·1536), attention (4·8·384);
    // then the pooler on one token.
    let expected = 6 * 8 * (8 * 384 * 384 + 4 * 384 * 1536 + 4 * 8 * 384) + 2 * 384 * 384;
    assert_eq!(report.gflop_per_example_forward, expected as f64 / 1e9);
    assert_eq!(report.gflop_per_example_step, report.gflop_per_example_forward);
    assert!(report.effective_gflops > 0.0);
}

#[test]
fn lora_reports_the_adapters_and_the_reference_json_fields() {
    let report = steps(BenchMode::Lora);
    assert_eq!((report.trainable_params, report.total_params), (149_381, 22_862_597));
    assert!(report.gflop_per_example_step > 2.0 * report.gflop_per_example_forward);
    let json = BenchReport::Steps(report).to_json();
    for key in [
        "tool",
        "backend",
        "mode",
        "examples_per_s",
        "effective_gflops",
        "gflop_per_example_step",
    ] {
        assert!(!json[key].is_null(), "{key} missing: {json}");
    }
    assert_eq!(
        (json["tool"].as_str(), json["mode"].as_str()),
        (Some("minbert"), Some("lora"))
    );
    assert_eq!(
        (json["backend"].as_str(), json["precision"].as_str()),
        (Some("flex"), Some("f32"))
    );
    assert_eq!((json["rank"].as_u64(), json["alpha"].as_f64()), (Some(8), Some(16.0)));
    assert_eq!(json["targets"][3], "attention.output.dense");
}

#[test]
fn gemm_times_the_workload_products() {
    let mut lines = Vec::new();
    let on_line = &mut |line: &str| lines.push(line.to_string());
    let BenchReport::Gemm(report) = run(&options(BenchMode::Gemm), &flex(), on_line).unwrap() else {
        panic!("gemm ran steps");
    };
    let names: Vec<_> = report.gemm.iter().map(|t| t.shape.name).collect();
    let printed: Vec<_> = report.gemm.iter().map(|t| gemm_line(t, &report.device)).collect();
    assert_eq!(lines, printed, "a line per product");
    assert!(lines[0].starts_with("minbert bench gemm ffn_up "), "{}", lines[0]);
    assert_eq!(
        names,
        ["ffn_up", "ffn_down", "projection", "ffn_up_weight_grad", "adapter_a"]
    );
    assert!(
        report
            .gemm
            .iter()
            .all(|t| t.gflops_best >= t.gflops_median && t.gflops_median > 0.0)
    );
    let json = BenchReport::Gemm(report).to_json();
    assert_eq!(json["mode"], "gemm");
    assert_eq!(json["gemm"][0]["name"], "ffn_up");
    assert_eq!(json["gemm"][0]["m"], 16);
    assert!(json["gemm"][0]["gflops_median"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_sizes_and_long_sequences_are_refused_with_their_flags() {
    let err = run(
        &BenchOptions {
            batch: 0,
            ..options(BenchMode::Infer)
        },
        &flex(),
        &mut |line| panic!("refused sizes printed {line}"),
    )
    .unwrap_err();
    assert!(matches!(err, BenchError::Sizes), "{err}");
    for sizes in [(1, 1, 1), (1, 2, 0)] {
        let (batch, seq, steps) = sizes;
        let options = BenchOptions {
            batch,
            seq,
            steps,
            ..options(BenchMode::Gemm)
        };
        assert!(matches!(options.check(), Err(BenchError::Sizes)), "{sizes:?}");
    }
    assert!(options(BenchMode::Gemm).check().is_ok());
    let err = run(
        &BenchOptions {
            seq: 513,
            ..options(BenchMode::Infer)
        },
        &flex(),
        &mut |line| panic!("refused sizes printed {line}"),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "--seq 513 exceeds the model's 512 positions");
}
