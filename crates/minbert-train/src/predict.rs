//! Predictions of a multitask model over whole datasets, and the dev scores the trainer
//! selects checkpoints by.

use burn::module::Module;
use burn::tensor::Device;
use minbert_data::{CourseTask, EncodedDataset, Label};

use crate::metrics::Scores;
use crate::model::{MultitaskModel, Prediction};

/// One task's predictions over a dataset, in the dataset's order.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPredictions {
    pub task: CourseTask,
    pub ids: Vec<String>,
    pub predicted: Prediction,
}

/// Predicts every example of `dataset` with `model` (which should be in inference mode:
/// `model.valid()`), `batch_size` at a time. Batches group examples of similar length, so
/// little is padded; the results come back in the dataset's order.
pub fn predict_dataset(model: &MultitaskModel, task: CourseTask, dataset: &EncodedDataset, batch_size: usize, device: &Device) -> TaskPredictions {
    let mut order: Vec<usize> = (0..dataset.len()).collect();
    order.sort_by_key(|&i| dataset.examples[i].len());
    let mut classes = vec![0usize; dataset.len()];
    let mut scores = vec![0f64; dataset.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let batch = dataset.pad(chunk).to_device(device);
        match model.predict(task, model.forward(task, &batch)) {
            Prediction::Classes(p) => chunk.iter().zip(p).for_each(|(&i, c)| classes[i] = c),
            Prediction::Scores(p) => chunk.iter().zip(p).for_each(|(&i, s)| scores[i] = s),
        }
    }
    let predicted = if task == CourseTask::Sts { Prediction::Scores(scores) } else { Prediction::Classes(classes) };
    TaskPredictions { task, ids: dataset.examples.iter().map(|e| e.id.clone()).collect(), predicted }
}

/// The dev scores of `model` on the given datasets (tasks left out score NaN). The model is
/// switched to inference mode (no dropout, no autodiff) for the duration.
pub fn evaluate(model: &MultitaskModel, datasets: &[(CourseTask, &EncodedDataset)], batch_size: usize) -> Scores {
    let model = model.valid();
    let device = model.devices().into_iter().next().expect("a model with parameters");
    let mut sst = (Vec::new(), Vec::new());
    let mut quora = (Vec::new(), Vec::new());
    let mut sts = (Vec::new(), Vec::new());
    for &(task, dataset) in datasets {
        let gold: Vec<Label> = dataset.examples.iter().filter_map(|e| e.label).collect();
        assert_eq!(gold.len(), dataset.len(), "{task} dev examples all have labels");
        match (task, predict_dataset(&model, task, dataset, batch_size, &device).predicted) {
            (CourseTask::Sts, Prediction::Scores(p)) => sts = (p, gold.iter().map(|l| f64::from(l.as_score())).collect()),
            (CourseTask::Sst, Prediction::Classes(p)) => sst = (p, gold.iter().map(|l| l.as_class() as usize).collect()),
            (CourseTask::Para, Prediction::Classes(p)) => quora = (p, gold.iter().map(|l| l.as_class() as usize).collect()),
            (task, _) => unreachable!("{task} predictions have the task's kind"),
        }
    }
    Scores::compute((&sst.0, &sst.1), (&quora.0, &quora.1), (&sts.0, &sts.1))
}
