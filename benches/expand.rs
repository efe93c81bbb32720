//! Expansion time of `#[livepatch]`: one patch with 200 states against 200 patches with one state
//! each, measured in the same run. The target is at most 2× (expansion linear in the states, no
//! quadratic check); the `scaling` group shows the cost per state as the patch grows.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use proc_macro2::TokenStream;

/// `#[livepatch(...)]`'s arguments for a patch with `states` states, numbered from `first_id`.
fn args(states: usize, first_id: usize) -> TokenStream {
    let entries: Vec<String> = (0..states)
        .map(|i| {
            let id = first_id + i;
            format!(
                "/// State number {id}.\nSTATE_{id} {{ id: {id}, version: {}, data: Vec<u32> }}",
                id % 7
            )
        })
        .collect();
    format!("replace, states = [{}]", entries.join(",\n"))
        .parse()
        .expect("valid tokens")
}

/// A patch module with one callback of each kind.
fn module(name: &str) -> TokenStream {
    format!(
        "pub mod {name} {{
            use super::*;
            #[pre_patch]
            fn prepare(cx: &mut PrePatch<'_>) -> Result<(), CallbackError> {{ Ok(()) }}
            #[post_patch]
            fn apply(cx: &mut PostPatch<'_>) {{}}
            #[pre_unpatch(object = \"net\")]
            fn stop(cx: &mut PreUnpatch<'_>) {{}}
            #[post_unpatch(object = \"net\")]
            fn cleanup(cx: &mut PostUnpatch<'_>) {{}}
        }}"
    )
    .parse()
    .expect("valid tokens")
}

fn expand(inputs: Vec<(TokenStream, TokenStream)>) -> usize {
    inputs
        .into_iter()
        .map(|(args, item)| {
            livepatch_macros_core::livepatch(args, item)
                .into_iter()
                .count()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let one_big = vec![(args(200, 1), module("big"))];
    let many_small: Vec<(TokenStream, TokenStream)> = (0..200)
        .map(|i| (args(1, i + 1), module(&format!("small_{i}"))))
        .collect();
    // Both expand without errors.
    for input in [&one_big, &many_small] {
        for (args, item) in input.iter() {
            let out = livepatch_macros_core::livepatch(args.clone(), item.clone()).to_string();
            assert!(!out.contains("compile_error"), "{out}");
        }
    }

    let mut group = c.benchmark_group("expand");
    group.bench_function("one patch, 200 states", |b| {
        b.iter_batched(
            || one_big.clone(),
            |input| black_box(expand(input)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("200 patches, 1 state each", |b| {
        b.iter_batched(
            || many_small.clone(),
            |input| black_box(expand(input)),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("scaling");
    for states in [100, 200, 400, 800] {
        let input = vec![(args(states, 1), module("big"))];
        group.bench_function(format!("{states} states"), |b| {
            b.iter_batched(
                || input.clone(),
                |input| black_box(expand(input)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
