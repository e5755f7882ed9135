//! Weighted combinations of adapters: PEFT's `LoraModel.add_weighted_adapter`, with its
//! combination types and its semantics, on [`AdapterWeights`] (no model needed).
//!
//! What PEFT does, and so what this does:
//! - The new adapter's config is the first adapter's, with `r` and `lora_alpha` both set to the
//!   new rank (so plain LoRA scales by 1; an rsLoRA first adapter makes it `sqrt(r)`), and
//!   `target_modules` the union of the adapters' (a regex alternation for regex targets).
//! - `linear`, `ties`, `dare_linear`, `dare_ties`, `magnitude_prune` need equal ranks and combine
//!   the A factors and the B factors separately, each adapter weighted by `sqrt(|w s|)` (the sign
//!   of `w s` on A only): an approximation of the weighted sum of the updates, cross terms included.
//! - `cat` stacks the factors (`A` rows weighted by `w s`): exactly the weighted sum of the
//!   updates, at the sum of the ranks.
//! - `svd` (and `ties_svd`, `dare_linear_svd`, `dare_ties_svd`, `magnitude_prune_svd`) combine the
//!   full updates `s B A` weighted by `w` and keep the top `svd_rank` (default: the largest rank)
//!   singular directions: `B = U_r S_r`, `A = V_r^T`, optionally clamped at a quantile.
//! - A module that only some adapters adapt is combined from those.
//!
//! DARE's random masks come from a seeded ChaCha8 generator: the same seed gives the same merge
//! on every platform, but not PyTorch's masks (tests check their statistics instead).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::TargetModules;
use crate::error::PeftError;
use crate::weights::{AdapterWeights, ModuleFactors};

/// PEFT's `combination_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combination {
    /// `linear`: the weighted sum of the A factors and of the B factors.
    Linear,
    /// `cat`: the factors stacked; exactly the weighted sum of the updates.
    Cat,
    /// `svd`: the weighted sum of the updates, truncated by SVD.
    Svd,
    /// `ties`: magnitude pruning, majority sign, disjoint mean (of A and of B).
    Ties,
    /// `ties_svd`: TIES on the updates, truncated by SVD.
    TiesSvd,
    /// `dare_linear`: random pruning, rescaled, then the weighted sum (of A and of B).
    DareLinear,
    /// `dare_linear_svd`: `dare_linear` on the updates, truncated by SVD.
    DareLinearSvd,
    /// `dare_ties`: random pruning, rescaled, then TIES's sign election (of A and of B).
    DareTies,
    /// `dare_ties_svd`: `dare_ties` on the updates, truncated by SVD.
    DareTiesSvd,
    /// `magnitude_prune`: magnitude pruning, then the weighted sum (of A and of B).
    MagnitudePrune,
    /// `magnitude_prune_svd`: `magnitude_prune` on the updates, truncated by SVD.
    MagnitudePruneSvd,
}

const COMBINATIONS: [(Combination, &str); 11] = [
    (Combination::Linear, "linear"),
    (Combination::Cat, "cat"),
    (Combination::Svd, "svd"),
    (Combination::Ties, "ties"),
    (Combination::TiesSvd, "ties_svd"),
    (Combination::DareLinear, "dare_linear"),
    (Combination::DareLinearSvd, "dare_linear_svd"),
    (Combination::DareTies, "dare_ties"),
    (Combination::DareTiesSvd, "dare_ties_svd"),
    (Combination::MagnitudePrune, "magnitude_prune"),
    (Combination::MagnitudePruneSvd, "magnitude_prune_svd"),
];

impl Combination {
    /// PEFT's name.
    pub fn name(self) -> &'static str {
        COMBINATIONS.iter().find(|(c, _)| *c == self).expect("listed").1
    }

    fn is_svd(self) -> bool {
        self.name().ends_with("svd")
    }

    /// Whether it combines the A factors and the B factors layer by layer (all but `cat` and
    /// the `*svd` ones), which only means something for adapters of the same layers.
    pub fn mixes_factors(self) -> bool {
        self != Self::Cat && !self.is_svd()
    }

    /// How the per-adapter tensors are combined (the part before `_svd`).
    fn task_merge(self) -> TaskMerge {
        match self {
            Self::Linear | Self::Svd | Self::Cat => TaskMerge::Arithmetic,
            Self::Ties | Self::TiesSvd => TaskMerge::Ties,
            Self::DareLinear | Self::DareLinearSvd => TaskMerge::DareLinear,
            Self::DareTies | Self::DareTiesSvd => TaskMerge::DareTies,
            Self::MagnitudePrune | Self::MagnitudePruneSvd => TaskMerge::MagnitudePrune,
        }
    }
}

impl fmt::Display for Combination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// PEFT's name, e.g. `"dare_ties"`.
impl FromStr for Combination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        COMBINATIONS
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(c, _)| *c)
            .ok_or_else(|| {
                let names: Vec<&str> = COMBINATIONS.iter().map(|(_, n)| *n).collect();
                format!("unknown combination {s:?}, expected one of {}", names.join(", "))
            })
    }
}

/// PEFT's `majority_sign_method` for TIES: the sign of the sum (`total`) or of the count of
/// signs (`frequency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MajoritySign {
    /// The sign of the sum of the values.
    #[default]
    Total,
    /// The sign most values have.
    Frequency,
}

impl FromStr for MajoritySign {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "total" => Ok(Self::Total),
            "frequency" => Ok(Self::Frequency),
            _ => Err(format!(
                "unknown majority sign method {s:?}, expected total or frequency"
            )),
        }
    }
}

/// The arguments of PEFT's `add_weighted_adapter` besides the adapters and weights.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedMerge {
    /// How the adapters combine.
    pub combination: Combination,
    /// The new rank of the `*svd` combinations; by default the largest input rank.
    pub svd_rank: Option<usize>,
    /// Clamp the `*svd` factors to this quantile of their values (PEFT's `svd_clamp`).
    pub svd_clamp: Option<f64>,
    /// The fraction of values kept by `ties`, `dare_*` and `magnitude_prune` (required there).
    pub density: Option<f64>,
    /// TIES's sign election.
    pub majority_sign_method: MajoritySign,
    /// Seeds DARE's random masks.
    pub seed: u64,
}

impl WeightedMerge {
    /// PEFT's defaults for `combination`.
    pub fn new(combination: Combination) -> Self {
        Self {
            combination,
            svd_rank: None,
            svd_clamp: None,
            density: None,
            majority_sign_method: MajoritySign::Total,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskMerge {
    Arithmetic,
    Ties,
    DareLinear,
    DareTies,
    MagnitudePrune,
}

/// PEFT's `add_weighted_adapter`: a new adapter combining `adapters`, each with its weight.
/// DoRA adapters are refused: PEFT gives the result a magnitude re-initialised from the base
/// weight, not merged from the inputs, which needs the model and is rarely what one wants.
pub fn add_weighted_adapter(
    adapters: &[(&AdapterWeights, f64)],
    merge: &WeightedMerge,
) -> Result<AdapterWeights, PeftError> {
    let Some((first, _)) = adapters.first() else {
        return Err(PeftError::Merge("no adapters to combine".into()));
    };
    if let Some(i) = adapters.iter().position(|(a, _)| a.config.lora_bias) {
        return Err(PeftError::Merge(format!(
            "adapter {} has lora_bias: weighted merges of trained biases are not supported",
            i + 1
        )));
    }
    if let Some(i) = adapters.iter().position(|(a, _)| a.config.use_dora) {
        return Err(PeftError::Merge(format!(
            "adapter {} is DoRA: weighted merges of DoRA adapters are not supported (PEFT re-initialises \
             the merged magnitude from the base weight)",
            i + 1
        )));
    }
    // PEFT: with one adapter, only linear merging applies.
    let combination = if adapters.len() == 1 {
        Combination::Linear
    } else {
        merge.combination
    };
    let new_rank = new_rank(adapters, combination, merge.svd_rank)?;
    let density = match (combination.task_merge(), merge.density) {
        (TaskMerge::Arithmetic, _) => 1.0,
        (_, Some(d)) if d >= 0.0 => d,
        (_, Some(d)) => return Err(PeftError::Merge(format!("density must be >= 0, got {d}"))),
        (_, None) => return Err(PeftError::Merge(format!("combination {combination} needs a density"))),
    };
    let mut config = first.config.clone();
    config.r = new_rank;
    config.lora_alpha = new_rank as f64;
    config.rank_pattern.clear();
    config.alpha_pattern.clear();
    config.target_modules = union_of_targets(adapters)?;
    let mut rng = ChaCha8Rng::seed_from_u64(merge.seed);
    let mut context = Context {
        task: combination.task_merge(),
        density,
        sign: merge.majority_sign_method,
        rng: &mut rng,
    };
    let names: std::collections::BTreeSet<&String> = adapters.iter().flat_map(|(a, _)| a.modules.keys()).collect();
    let mut modules = BTreeMap::new();
    for name in names {
        let present: Vec<(&ModuleFactors, f64, f64)> = adapters
            .iter()
            .filter_map(|(a, w)| {
                a.modules
                    .get(name)
                    .map(|f| (f, *w, a.config.for_module(name).scaling()))
            })
            .collect();
        let factors = match combination {
            Combination::Cat => cat(&present, new_rank),
            c if c.is_svd() => svd(&present, new_rank, merge.svd_clamp, &mut context).map_err(|e| at(e, name))?,
            _ => factor_wise(&present, &mut context).map_err(|e| at(e, name))?,
        };
        modules.insert(name.clone(), factors);
    }
    Ok(AdapterWeights { config, modules })
}

fn at(error: String, module: &str) -> PeftError {
    PeftError::Merge(format!("{module}: {error}"))
}

fn new_rank(
    adapters: &[(&AdapterWeights, f64)],
    combination: Combination,
    svd_rank: Option<usize>,
) -> Result<usize, PeftError> {
    let ranks: Vec<usize> = adapters.iter().map(|(a, _)| a.config.r).collect();
    Ok(match combination {
        Combination::Cat => ranks.iter().sum(),
        c if c.is_svd() => svd_rank.unwrap_or_else(|| *ranks.iter().max().expect("not empty")),
        c => {
            if ranks.iter().any(|&r| r != ranks[0]) {
                return Err(PeftError::Merge(format!(
                    "combination {c} needs adapters of the same r, got {ranks:?} (cat and svd take any)"
                )));
            }
            ranks[0]
        }
    })
}

/// PEFT: a union of name lists, or an alternation of regexes; the two kinds do not mix.
fn union_of_targets(adapters: &[(&AdapterWeights, f64)]) -> Result<TargetModules, PeftError> {
    let targets: Vec<&TargetModules> = adapters.iter().map(|(a, _)| &a.config.target_modules).collect();
    if targets.iter().all(|t| matches!(t, TargetModules::Regex(_))) {
        let parts: Vec<String> = targets
            .iter()
            .map(|t| match t {
                TargetModules::Regex(re) => format!("({re})"),
                _ => unreachable!(),
            })
            .collect();
        return Ok(TargetModules::Regex(parts.join("|")));
    }
    if targets.iter().any(|t| matches!(t, TargetModules::Regex(_))) {
        return Err(PeftError::Merge(
            "the adapters' target_modules mix a regex and name lists, which PEFT does not combine".into(),
        ));
    }
    if targets.iter().any(|t| matches!(t, TargetModules::AllLinear)) {
        return Ok(TargetModules::AllLinear);
    }
    let mut names: Vec<String> = targets
        .iter()
        .flat_map(|t| match t {
            TargetModules::Names(n) => n.clone(),
            _ => Vec::new(),
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(TargetModules::Names(names))
}

/// `cat`: `A = [w_1 s_1 A_1; w_2 s_2 A_2; ...]`, `B = [B_1 B_2 ...]`, zero-padded to `rank`.
fn cat(present: &[(&ModuleFactors, f64, f64)], rank: usize) -> ModuleFactors {
    let (d_in, d_out) = (present[0].0.lora_a.ncols(), present[0].0.lora_b.nrows());
    let mut a = DMatrix::zeros(rank, d_in);
    let mut b = DMatrix::zeros(d_out, rank);
    let mut row = 0;
    for (f, w, s) in present {
        let r = f.rank();
        a.rows_mut(row, r).copy_from(&(&f.lora_a * (w * s) as f32));
        b.columns_mut(row, r).copy_from(&f.lora_b);
        row += r;
    }
    ModuleFactors {
        lora_a: a,
        lora_b: b,
        magnitude: None,
        bias: None,
        kind: present[0].0.kind,
    }
}

/// `linear`, `ties`, `dare_*`, `magnitude_prune`: A and B combined separately, weighted by
/// `sign(w s) sqrt(|w s|)` and `sqrt(|w s|)`.
fn factor_wise(present: &[(&ModuleFactors, f64, f64)], context: &mut Context) -> Result<ModuleFactors, String> {
    // Equal config ranks can still differ per module (rank_pattern).
    let ranks: Vec<usize> = present.iter().map(|(f, _, _)| f.rank()).collect();
    if ranks.iter().any(|&r| r != ranks[0]) {
        return Err(format!(
            "the adapters have ranks {ranks:?} here (rank_pattern); this combination needs equal ones (cat and svd take any)"
        ));
    }
    let root = |w: f64, s: f64| (w * s).abs().sqrt();
    let weights_a: Vec<f32> = present
        .iter()
        .map(|(_, w, s)| (root(*w, *s) * if w * s >= 0.0 { 1.0 } else { -1.0 }) as f32)
        .collect();
    let weights_b: Vec<f32> = present.iter().map(|(_, w, s)| root(*w, *s) as f32).collect();
    let a: Vec<DMatrix<f32>> = present.iter().map(|(f, _, _)| f.lora_a.clone()).collect();
    let b: Vec<DMatrix<f32>> = present.iter().map(|(f, _, _)| f.lora_b.clone()).collect();
    Ok(ModuleFactors {
        lora_a: context.combine(a, &weights_a),
        lora_b: context.combine(b, &weights_b),
        magnitude: None,
        bias: None,
        kind: present[0].0.kind,
    })
}

/// The `*svd` combinations: the top `rank` singular triplets of the combined update, `B = U S`,
/// `A = V^T`. Computed in f64: nalgebra's f32 SVD of trained low-rank updates left the top
/// singular vectors visibly off (a 0.98-aligned `lora_B`, 1e-2 in the outputs; PEFT's LAPACK
/// call is not), and that error is far above f32 rounding.
fn svd(
    present: &[(&ModuleFactors, f64, f64)],
    rank: usize,
    clamp: Option<f64>,
    context: &mut Context,
) -> Result<ModuleFactors, String> {
    let first = present[0].0;
    let limit = first.lora_b.nrows().min(first.lora_a.ncols());
    if rank > limit {
        return Err(format!("svd_rank {rank} exceeds the update's {limit} singular values"));
    }
    let stacked = match context.task {
        TaskMerge::Arithmetic => stacked_svd(present, rank),
        _ => None,
    };
    let (b, a) = stacked.unwrap_or_else(|| {
        let deltas: Vec<DMatrix<f32>> = present.iter().map(|(f, _, s)| f.delta_weight(*s)).collect();
        let weights: Vec<f32> = present.iter().map(|(_, w, _)| *w as f32).collect();
        top_triplets(context.combine(deltas, &weights).map(f64::from), rank)
    });
    let (mut b, mut a) = (b.map(|v| v as f32), a.map(|v| v as f32));
    if let Some(q) = clamp {
        let mut all: Vec<f32> = b.iter().chain(a.iter()).copied().collect();
        let high = quantile(&mut all, q);
        b.apply(|v| *v = v.clamp(-high, high));
        a.apply(|v| *v = v.clamp(-high, high));
    }
    Ok(ModuleFactors {
        lora_a: a,
        lora_b: b,
        magnitude: None,
        bias: None,
        kind: first.kind,
    })
}

/// `(B, A)` from the top `rank` singular triplets of `delta`: `B = U S`, `A = V^T`.
fn top_triplets(delta: DMatrix<f64>, rank: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let svd = delta.svd(true, true);
    let (u, v_t) = (svd.u.expect("computed"), svd.v_t.expect("computed"));
    let top = DMatrix::from_diagonal(&svd.singular_values.rows(0, rank).into_owned());
    (u.columns(0, rank) * top, v_t.rows(0, rank).into_owned())
}

/// The plain weighted sum's top triplets without forming the sum: it is `P Q` with `P = [w s B
/// ...]` and `Q = [A; ...]` stacked (`k` = the sum of the ranks), so with `P = Qp Rp` and
/// `Q^T = Qq Rq` it is `Qp (Rp Rq^T) Qq^T`, whose SVD is that of the `k x k` middle factor:
/// exact, and far cheaper than the SVD of the `[out, in]` sum. `None` where `k` exceeds the
/// thin factors, or is below `rank` (the remaining singular vectors are arbitrary: the full
/// SVD's are PEFT's).
fn stacked_svd(present: &[(&ModuleFactors, f64, f64)], rank: usize) -> Option<(DMatrix<f64>, DMatrix<f64>)> {
    let columns_p: Vec<DVector<f64>> = (present.iter())
        .flat_map(|(f, w, s)| f.lora_b.column_iter().map(move |c| c.map(f64::from) * (w * s)))
        .collect();
    let columns_q: Vec<DVector<f64>> = (present.iter())
        .flat_map(|(f, _, _)| f.lora_a.row_iter().map(|r| r.transpose().map(f64::from)))
        .collect();
    let (p, q_t) = (DMatrix::from_columns(&columns_p), DMatrix::from_columns(&columns_q));
    let k = p.ncols();
    if k < rank || k > p.nrows().min(q_t.nrows()) {
        return None;
    }
    let (qr_p, qr_q) = (p.qr(), q_t.qr());
    let (b, a) = top_triplets(qr_p.r() * qr_q.r().transpose(), rank);
    Some((qr_p.q() * b, a * qr_q.q().transpose()))
}

/// `torch.quantile` with linear interpolation.
fn quantile(values: &mut [f32], q: f64) -> f32 {
    values.sort_by(f32::total_cmp);
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let t = (position - low as f64) as f32;
    values[low] + (values[high] - values[low]) * t
}

/// PEFT's `merge_utils` over one stack of same-shaped tensors.
struct Context<'a> {
    task: TaskMerge,
    density: f64,
    sign: MajoritySign,
    rng: &'a mut ChaCha8Rng,
}

impl Context<'_> {
    fn combine(&mut self, tensors: Vec<DMatrix<f32>>, weights: &[f32]) -> DMatrix<f32> {
        let pruned: Vec<DMatrix<f32>> = match self.task {
            TaskMerge::Arithmetic => tensors,
            TaskMerge::Ties | TaskMerge::MagnitudePrune => {
                tensors.into_iter().map(|t| self.magnitude_prune(t)).collect()
            }
            TaskMerge::DareLinear | TaskMerge::DareTies => tensors.into_iter().map(|t| self.random_prune(t)).collect(),
        };
        let weighted: Vec<DMatrix<f32>> = pruned.iter().zip(weights).map(|(t, w)| t * *w).collect();
        match self.task {
            TaskMerge::Ties | TaskMerge::DareTies => disjoint_merge(&pruned, &weighted, self.sign),
            _ => weighted.into_iter().reduce(|a, b| a + b).expect("not empty"),
        }
    }

    /// Keeps the `int(density * n)` values of largest magnitude.
    fn magnitude_prune(&self, tensor: DMatrix<f32>) -> DMatrix<f32> {
        if self.density >= 1.0 {
            return tensor;
        }
        let k = (self.density * tensor.len() as f64) as usize;
        let mut order: Vec<usize> = (0..tensor.len()).collect();
        order.sort_by(|&i, &j| tensor[j].abs().total_cmp(&tensor[i].abs()));
        let mut pruned = DMatrix::zeros(tensor.nrows(), tensor.ncols());
        for &i in &order[..k] {
            pruned[i] = tensor[i];
        }
        pruned
    }

    /// DARE: keeps each value with probability `density`, rescaled by `1 / density`.
    fn random_prune(&mut self, tensor: DMatrix<f32>) -> DMatrix<f32> {
        if self.density >= 1.0 {
            return tensor;
        }
        let density = self.density;
        tensor.map(|v| {
            if self.rng.random_bool(density) {
                v / density as f32
            } else {
                0.0
            }
        })
    }
}

/// TIES: per element, the majority sign of the (unweighted) pruned values, then the mean of the
/// weighted values that have it.
fn disjoint_merge(pruned: &[DMatrix<f32>], weighted: &[DMatrix<f32>], method: MajoritySign) -> DMatrix<f32> {
    let shape = (pruned[0].nrows(), pruned[0].ncols());
    DMatrix::from_fn(shape.0, shape.1, |i, j| {
        let strength: f32 = match method {
            MajoritySign::Total => pruned.iter().map(|t| t[(i, j)]).sum(),
            MajoritySign::Frequency => pruned.iter().map(|t| sign(t[(i, j)])).sum(),
        };
        let majority = if strength >= 0.0 { 1.0 } else { -1.0 };
        let agreeing: Vec<usize> = (0..pruned.len())
            .filter(|&k| sign(pruned[k][(i, j)]) == majority)
            .collect();
        let sum: f32 = agreeing.iter().map(|&k| weighted[k][(i, j)]).sum();
        sum / (agreeing.len() as f32).max(1.0)
    })
}

/// `torch.sign`: -1, 0 or 1.
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}
