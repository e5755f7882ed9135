//! A module's float parameters by path (`encoders.0.encoder.layer.3.attention.self_.query.base.weight`,
//! `sst.out.bias`, ...): Burn's field names joined with dots. The optimizer state, the
//! trainable set and the half-precision copy are all keyed by these paths, which stay the same
//! when a model is rebuilt from a checkpoint (Burn's parameter ids do not).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, Tensor};

/// Flat f32 values (or gradients) by parameter path, without autodiff. A `BTreeMap`, so sums
/// over it (the global gradient norm) run in the same order every time.
pub type ParamMap = BTreeMap<String, Tensor<1>>;

/// Path, shape and whether it trains, for every float parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub path: String,
    pub shape: Vec<usize>,
    pub trainable: bool,
}

pub fn param_infos<M: Module>(model: &M) -> Vec<ParamInfo> {
    struct Lister {
        path: Vec<String>,
        out: Vec<ParamInfo>,
    }
    impl ModuleVisitor for Lister {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.out.push(ParamInfo {
                path: self.path.join("."),
                shape: param.lazy_shape().to_vec(),
                trainable: param.val().is_require_grad(),
            });
        }
    }
    let mut lister = Lister {
        path: Vec::new(),
        out: Vec::new(),
    };
    model.visit(&mut lister);
    lister.out
}

/// The gradient of every parameter that has one in `grads`, as flat f32.
pub fn collect_grads<M: Module>(model: &M, grads: &burn::tensor::Gradients) -> ParamMap {
    struct Collector<'a> {
        path: Vec<String>,
        grads: &'a burn::tensor::Gradients,
        out: ParamMap,
    }
    impl ModuleVisitor for Collector<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = param.val().grad(self.grads) {
                let n = grad.shape().num_elements();
                self.out.insert(self.path.join("."), grad.cast(DType::F32).reshape([n]));
            }
        }
    }
    let mut collector = Collector {
        path: Vec::new(),
        grads,
        out: ParamMap::new(),
    };
    model.visit(&mut collector);
    collector.out
}

/// The values of the parameters whose path `select` accepts, as flat f32 without autodiff.
pub fn collect_values<M: Module>(model: &M, select: impl Fn(&str) -> bool) -> ParamMap {
    struct Collector<F> {
        path: Vec<String>,
        select: F,
        out: ParamMap,
    }
    impl<F: Fn(&str) -> bool> ModuleVisitor for Collector<F> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let path = self.path.join(".");
            if (self.select)(&path) {
                let value = param.val().inner();
                let n = value.shape().num_elements();
                self.out.insert(path, value.cast(DType::F32).reshape([n]));
            }
        }
    }
    let mut collector = Collector {
        path: Vec::new(),
        select,
        out: ParamMap::new(),
    };
    model.visit(&mut collector);
    collector.out
}

/// Replaces the parameters named in `values` (flat) by those values in `dtype`, keeping each
/// parameter's id and gradient setting; the others are left as they are.
pub fn set_values<M: Module>(model: M, values: &ParamMap, dtype: DType) -> M {
    struct Setter<'a> {
        path: Vec<String>,
        values: &'a ParamMap,
        dtype: DType,
    }
    impl ModuleMapper for Setter<'_> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(value) = self.values.get(&self.path.join(".")) else {
                return param;
            };
            let dtype = self.dtype;
            param.map(|old| {
                let dims: [usize; D] = old.dims();
                leaf(
                    value.clone().cast(dtype).reshape(dims),
                    old.is_require_grad(),
                    old.is_autodiff(),
                )
            })
        }
    }
    model.map(&mut Setter {
        path: Vec::new(),
        values,
        dtype,
    })
}

/// Every float parameter cast to `dtype`, as a new leaf with the same gradient setting: the
/// half-precision working copy of an f32 model.
pub fn cast_params<M: Module>(model: M, dtype: DType) -> M {
    struct Caster {
        dtype: DType,
    }
    impl ModuleMapper for Caster {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.dtype;
            param.map(|old| {
                let (grad, autodiff) = (old.is_require_grad(), old.is_autodiff());
                leaf(old.inner().cast(dtype), grad, autodiff)
            })
        }
    }
    model.map(&mut Caster { dtype })
}

/// Sets which parameters train: those whose path `trainable` accepts.
pub fn set_trainable<M: Module>(model: M, trainable: impl Fn(&str) -> bool) -> M {
    struct Marker<F> {
        path: Vec<String>,
        trainable: F,
    }
    impl<F: Fn(&str) -> bool> ModuleMapper for Marker<F> {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let trainable = (self.trainable)(&self.path.join("."));
            param.set_require_grad(trainable)
        }
    }
    model.map(&mut Marker {
        path: Vec::new(),
        trainable,
    })
}

/// A fresh graph leaf holding `value` (without autodiff), on the autodiff device when
/// `autodiff`, tracking gradients when `require_grad`.
pub(crate) fn leaf<const D: usize>(value: Tensor<D>, require_grad: bool, autodiff: bool) -> Tensor<D> {
    let value = value.inner();
    if !autodiff {
        return value;
    }
    let value = Tensor::from_inner(value);
    if require_grad { value.require_grad() } else { value }
}
