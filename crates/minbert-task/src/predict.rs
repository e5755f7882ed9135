//! Predictions of a multitask model over whole datasets, and the dev scores the trainer
//! selects checkpoints by.

use burn::module::Module;
use burn::tensor::Device;
use minbert_data::{CourseTask, EncodedDataset, Label};

use crate::metrics::Scores;
use crate::model::{MultitaskModel, Prediction, num_outputs, outputs_to_vec};

/// One task's predictions over a dataset, in the dataset's order.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPredictions {
    pub task: CourseTask,
    pub ids: Vec<String>,
    pub predicted: Prediction,
}

/// The raw outputs of `model` (which should be an [`inference_model`]) for every
/// example of `dataset`, [`num_outputs`] values per example, in the dataset's order. Batches of
/// `batch_size` group examples of similar length, so little is padded; `on_batch` hears how many
/// examples each batch held.
pub fn dataset_outputs(
    model: &MultitaskModel,
    task: CourseTask,
    dataset: &EncodedDataset,
    batch_size: usize,
    device: &Device,
    on_batch: &mut dyn FnMut(usize),
) -> Vec<f32> {
    let k = num_outputs(task);
    let mut order: Vec<usize> = (0..dataset.len()).collect();
    order.sort_by_key(|&i| dataset.examples[i].len());
    let mut values = vec![0f32; dataset.len() * k];
    for chunk in order.chunks(batch_size.max(1)) {
        let batch = dataset.pad(chunk).to_device(device);
        let rows = outputs_to_vec(model.forward(task, &batch));
        for (&i, row) in chunk.iter().zip(rows.chunks(k)) {
            values[i * k..(i + 1) * k].copy_from_slice(row);
        }
        on_batch(chunk.len());
    }
    values
}

/// The course's predictions of `model` for every example of `dataset` (see [`dataset_outputs`]).
pub fn predict_dataset(
    model: &MultitaskModel,
    task: CourseTask,
    dataset: &EncodedDataset,
    batch_size: usize,
    device: &Device,
) -> TaskPredictions {
    let predicted = model.predict(
        task,
        &dataset_outputs(model, task, dataset, batch_size, device, &mut |_| {}),
    );
    TaskPredictions {
        task,
        ids: dataset.examples.iter().map(|e| e.id.clone()).collect(),
        predicted,
    }
}

/// A copy of `model` for inference: no autodiff, no dropout, and adapters merged into the base
/// weights, so a forward pass costs what the base model's costs (DoRA's weight norms are
/// computed once, not per batch). Outputs agree with the unmerged model to float rounding.
pub fn inference_model(model: &MultitaskModel) -> MultitaskModel {
    let mut model = model.valid();
    model.encoders.iter_mut().for_each(burn_peft::merge_adapters);
    model
}

/// The dev scores of `model` on the given datasets (tasks left out score NaN), computed on an
/// [`inference_model`] copy.
pub fn evaluate(model: &MultitaskModel, datasets: &[(CourseTask, &EncodedDataset)], batch_size: usize) -> Scores {
    let model = inference_model(model);
    let device = model.devices().into_iter().next().expect("a model with parameters");
    let mut sst = (Vec::new(), Vec::new());
    let mut quora = (Vec::new(), Vec::new());
    let mut sts = (Vec::new(), Vec::new());
    for &(task, dataset) in datasets {
        let gold: Vec<Label> = dataset.examples.iter().filter_map(|e| e.label).collect();
        assert_eq!(gold.len(), dataset.len(), "{task} dev examples all have labels");
        match (
            task,
            predict_dataset(&model, task, dataset, batch_size, &device).predicted,
        ) {
            (CourseTask::Sts, Prediction::Scores(p)) => {
                sts = (p, gold.iter().map(|l| f64::from(l.as_score())).collect())
            }
            (CourseTask::Sst, Prediction::Classes(p)) => {
                sst = (p, gold.iter().map(|l| l.as_class() as usize).collect())
            }
            (CourseTask::Para, Prediction::Classes(p)) => {
                quora = (p, gold.iter().map(|l| l.as_class() as usize).collect())
            }
            (task, _) => unreachable!("{task} predictions have the task's kind"),
        }
    }
    Scores::compute((&sst.0, &sst.1), (&quora.0, &quora.1), (&sts.0, &sts.1))
}
