//! `given_model`: `--model` over a non-empty `MINBERT_MODEL`, with where the name came from.
//! One test, since it sets the process's environment.

use minbert_hub::{MODEL_ENV, ModelOrigin, given_model, resolve_given};

#[test]
fn the_flag_wins_over_the_environment_which_wins_over_nothing() {
    // SAFETY: the only test of this binary; no other thread reads the environment meanwhile.
    unsafe { std::env::remove_var(MODEL_ENV) };
    assert_eq!(given_model(None), None);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().display().to_string();
    unsafe { std::env::set_var(MODEL_ENV, &local) };
    assert_eq!(given_model(None), Some((local.clone(), ModelOrigin::Env)));
    assert_eq!(given_model(Some("org/x")), Some(("org/x".into(), ModelOrigin::Flag)));
    assert_eq!(
        (ModelOrigin::Flag.name(), ModelOrigin::Env.name()),
        ("--model", "MINBERT_MODEL")
    );
    assert_eq!(resolve_given(None).unwrap().dir, dir.path());
    unsafe { std::env::set_var(MODEL_ENV, "") };
    assert_eq!(given_model(None), None);
}
