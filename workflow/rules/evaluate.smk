# Phase 7: metrics per identity and method (DESIGN.md); the tables are in report.smk.


rule evaluate:
    wildcard_constraints:
        method=one_of(METHODS),
    input:
        gt_imgs=ID.gt_imgs,
        parsing=ID.parsing,
        audio=ID.audio,
        landmarks=ID.landmarks,
        neutral=ID.neutral,
        frames_rendered=ID.render_frames("{method}"),
        render_summary=ID.render_summary("{method}"),
        training=[ID.training_summary("{method}", stage) for stage in TRAINING_STAGES],
        cross=cross_videos_of,
        cross_truth=cross_truths_of,
    output:
        metrics=ID.metrics("{method}"),
        frames_csv=ID.metrics_frames("{method}"),
        samples=report(
            ID.metrics_samples("{method}"),
            caption="../report/samples.rst",
            category="Renders",
            labels={"identity": "{identity}", "method": "{method}", "figure": "renders"},
        ),
        training_plot=report(
            ID.training_plot("{method}"),
            caption="../report/training.rst",
            category="Training",
            labels={"identity": "{identity}", "method": "{method}", "figure": "training"},
        ),
        lips_plot=report(
            ID.lips_plot("{method}"),
            caption="../report/lips.rst",
            category="Lip motion",
            labels={"identity": "{identity}", "method": "{method}", "figure": "lip motion"},
        ),
    params:
        manifest=config["weights"]["manifest"],
        weights=config["weights"]["dir"],
        root=identity_root,
        training=" ".join(
            f"--training-summary {ID.training_summary('{method}', stage)}"
            for stage in TRAINING_STAGES
        ),
        cross=cross_evaluate_arguments,
        skip=" ".join(f"--skip {name}" for name in config["evaluate"]["skip"]),
    log:
        "logs/{identity}/{method}/evaluate.log",
    benchmark:
        "benchmarks/{identity}/{method}/evaluate.tsv"
    conda:
        "../../envs/evaluate.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(60),
    shell:
        "talkgs evaluate --identity-root {params.root} --method {wildcards.method}"
        " --frames {input.frames_rendered} --render-summary {input.render_summary}"
        " {params.training} {params.cross} {params.skip} --output {output.metrics}"
        " --frames-csv {output.frames_csv} --samples {output.samples}"
        " --training-plot {output.training_plot} --lips-plot {output.lips_plot}"
        " --weights-manifest {params.manifest} --weights-dir {params.weights} --log {log}"


rule evaluate_baseline:
    wildcard_constraints:
        method=one_of(BASELINES),
    input:
        gt_imgs=ID.gt_imgs,
        parsing=ID.parsing,
        audio=ID.audio,
        landmarks=ID.landmarks,
        neutral=ID.neutral,
        frames_rendered=ID.baseline_frames("{method}"),
        render_summary=ID.baseline_summary("{method}"),
        cross=cross_videos_of,
        cross_truth=cross_truths_of,
    output:
        metrics=ID.metrics("{method}"),
        frames_csv=ID.metrics_frames("{method}"),
        samples=report(
            ID.metrics_samples("{method}"),
            caption="../report/samples.rst",
            category="Renders",
            labels={"identity": "{identity}", "method": "{method}", "figure": "renders"},
        ),
        lips_plot=report(
            ID.lips_plot("{method}"),
            caption="../report/lips.rst",
            category="Lip motion",
            labels={"identity": "{identity}", "method": "{method}", "figure": "lip motion"},
        ),
    params:
        manifest=config["weights"]["manifest"],
        weights=config["weights"]["dir"],
        root=identity_root,
        cross=cross_evaluate_arguments,
        skip=" ".join(f"--skip {name}" for name in config["evaluate"]["skip"]),
    log:
        "logs/{identity}/{method}/evaluate.log",
    conda:
        "../../envs/evaluate.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(16000),
        runtime=per_attempt(60),
    shell:
        "talkgs evaluate --identity-root {params.root} --method {wildcards.method}"
        " --frames {input.frames_rendered} --render-summary {input.render_summary}"
        " {params.cross} {params.skip} --output {output.metrics}"
        " --frames-csv {output.frames_csv} --samples {output.samples}"
        " --lips-plot {output.lips_plot}"
        " --weights-manifest {params.manifest} --weights-dir {params.weights} --log {log}"
