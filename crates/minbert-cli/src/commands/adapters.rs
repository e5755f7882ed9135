//! `minbert adapters merge`: PEFT's `add_weighted_adapter` on adapter directories, writing a new
//! PEFT adapter directory (no model needed).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn_peft::{AdapterWeights, Combination, MajoritySign, WeightedMerge, add_weighted_adapter};
use clap::{Args, Subcommand};
use minbert_task::files::sha256_file;

use crate::out_dir::{OutDir, OverwriteArg};

#[derive(Args, Debug)]
pub struct AdaptersArgs {
    #[command(subcommand)]
    pub command: AdaptersCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdaptersCommand {
    /// Combine PEFT LoRA adapters of one base model into one (PEFT's add_weighted_adapter).
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// A PEFT adapter directory; give two or more, in order.
    #[arg(long = "adapter", value_name = "DIR", required = true)]
    pub adapters: Vec<PathBuf>,
    /// One weight per adapter, comma-separated (default: 1 each).
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', allow_negative_numbers = true)]
    pub weights: Vec<f64>,
    /// linear, cat, svd, ties, dare_linear, dare_ties, magnitude_prune, or one of them with _svd.
    #[arg(long, default_value = "svd", value_parser = clap::value_parser!(Combination))]
    pub combination: Combination,
    /// The fraction of values kept by ties, dare_* and magnitude_prune.
    #[arg(long)]
    pub density: Option<f64>,
    /// The rank of the *svd combinations (default: the largest input rank).
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// TIES's majority sign: total or frequency.
    #[arg(long, default_value = "total", value_parser = clap::value_parser!(MajoritySign))]
    pub majority_sign_method: MajoritySign,
    /// Seeds DARE's random masks.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The new adapter's directory: a new or empty folder (not an --adapter), or with
    /// --overwrite one replaced whole.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub overwrite: OverwriteArg,
}

pub fn run(args: AdaptersArgs) -> Result<()> {
    match args.command {
        AdaptersCommand::Merge(args) => merge(args),
    }
}

fn merge(args: MergeArgs) -> Result<()> {
    let out = OutDir::new("--out", &args.out, args.overwrite);
    let inputs: Vec<(&str, &Path)> = args
        .adapters
        .iter()
        .map(|dir| ("the input --adapter", dir.as_path()))
        .collect();
    out.check(&inputs)?;
    let weights = match args.weights.len() {
        0 => vec![1.0; args.adapters.len()],
        n if n == args.adapters.len() => args.weights.clone(),
        n => bail!(
            "--weights has {n} values for {} adapters; give one per --adapter",
            args.adapters.len()
        ),
    };
    let adapters: Vec<AdapterWeights> = args
        .adapters
        .iter()
        .map(|dir| AdapterWeights::read(dir).with_context(|| format!("reading adapter {}", dir.display())))
        .collect::<Result<_>>()?;
    for (i, adapter) in adapters.iter().enumerate().skip(1) {
        check_compatible(
            (&args.adapters[0], &adapters[0]),
            (&args.adapters[i], adapter),
            args.combination,
        )?;
    }
    let merge = WeightedMerge {
        combination: args.combination,
        svd_rank: args.rank,
        svd_clamp: None,
        density: args.density,
        majority_sign_method: args.majority_sign_method,
        seed: args.seed,
    };
    let pairs: Vec<(&AdapterWeights, f64)> = adapters.iter().zip(weights.iter().copied()).collect();
    let names: Vec<String> = args.adapters.iter().map(|d| d.display().to_string()).collect();
    let merged = add_weighted_adapter(&pairs, &merge).with_context(|| format!("merging {}", names.join(", ")))?;
    out.replace(&inputs, |tmp| Ok(merged.write(tmp)?))?;
    println!(
        "merged {} adapters ({}, weights {weights:?}) into {}: r {}, {} modules",
        adapters.len(),
        args.combination,
        args.out.display(),
        merged.config.r,
        merged.modules.len()
    );
    Ok(())
}

/// Adapters combine only if they are for the same base model (see [`same_base`] where both
/// files name one, and the shapes of the layers both adapt), and, for the combinations that
/// mix factors (all but cat and *svd), adapt the same layers.
fn check_compatible(
    (first_dir, first): (&Path, &AdapterWeights),
    (dir, adapter): (&Path, &AdapterWeights),
    combination: Combination,
) -> Result<()> {
    let both = format!("{} and {}", first_dir.display(), dir.display());
    if let (Some(a), Some(b)) = (
        &first.config.base_model_name_or_path,
        &adapter.config.base_model_name_or_path,
    ) {
        match same_base(a, b)? {
            Some(true) => {}
            Some(false) => {
                bail!("{both} are adapters of different base models (base_model_name_or_path {a:?} and {b:?})")
            }
            None => eprintln!(
                "warning: {both} name their base models differently (base_model_name_or_path {a:?} and {b:?}) \
                 and they cannot be compared here; merging them as adapters of one model: check that they are"
            ),
        }
    }
    for (module, factors) in &adapter.modules {
        if let Some(other) = first.modules.get(module) {
            let shape = |f: &burn_peft::ModuleFactors| [f.lora_b.nrows(), f.lora_a.ncols()];
            if shape(factors) != shape(other) {
                bail!(
                    "{both} adapt {module} with shapes {:?} and {:?}: adapters of different base models",
                    shape(other),
                    shape(factors)
                );
            }
        }
    }
    if combination.mixes_factors() && first.modules.keys().ne(adapter.modules.keys()) {
        let only = |a: &AdapterWeights, b: &AdapterWeights| {
            a.modules
                .keys()
                .filter(|m| !b.modules.contains_key(*m))
                .cloned()
                .collect::<Vec<_>>()
        };
        bail!(
            "{both} adapt different layers (only the first: {:?}; only the second: {:?}); combination {combination} \
             mixes their factors layer by layer, so it needs the same layers: use cat or svd",
            only(first, adapter),
            only(adapter, first)
        );
    }
    Ok(())
}

/// Whether two `base_model_name_or_path` values name one model: equal names; two directories
/// here (the trainer records absolute paths, so one model may sit in two places) by canonical
/// path or else the sha256 of their `model.safetensors`; two Hub ids by name. `None` when the
/// names differ and cannot be resolved to compare (a path that is not here, a directory
/// without `model.safetensors`, or a Hub id against a path).
fn same_base(a: &str, b: &str) -> Result<Option<bool>> {
    if a == b {
        return Ok(Some(true));
    }
    let (pa, pb) = (Path::new(a), Path::new(b));
    if pa.is_dir() && pb.is_dir() {
        if pa.canonicalize()? == pb.canonicalize()? {
            return Ok(Some(true));
        }
        let (wa, wb) = (pa.join("model.safetensors"), pb.join("model.safetensors"));
        if !(wa.is_file() && wb.is_file()) {
            return Ok(None);
        }
        return Ok(Some(sha256_file(&wa)? == sha256_file(&wb)?));
    }
    let is_id = |p: &Path| !p.exists() && !p.is_absolute();
    Ok((is_id(pa) && is_id(pb)).then_some(false))
}
