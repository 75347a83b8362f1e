# Phase 7–8: metrics per identity and method, and the paper tables (DESIGN.md).


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


rule tables:
    input:
        metrics=all_metrics(),
        published=config["tables"]["published"] or [],
        head_motion=head_motion_summaries(),
    output:
        # The report shows the HTML page (tables, then their LaTeX to copy); it cannot display
        # Markdown, CSV or LaTeX files.
        report("results/tables/tables.html", caption="../report/tables.rst", category="Tables"),
        multiext("results/tables/self_reconstruction", ".csv", ".md", ".tex"),
        multiext("results/tables/lip_sync", ".csv", ".md", ".tex"),
        multiext("results/tables/per_identity", ".csv", ".md", ".tex"),
        multiext("results/tables/paired", ".csv", ".md", ".tex"),
        multiext("results/tables/head_motion", ".csv", ".md", ".tex"),
    params:
        options=tables_options(),
        head_motion=lambda wildcards, input: " ".join(
            f"--head-motion {path}" for path in input.head_motion
        ),
    log:
        "logs/tables.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "talkgs tables {input.metrics} --output results/tables {params.options}"
        " {params.head_motion} --log {log}"


rule runtimes:
    input:
        all_benchmarks,
    output:
        report("results/report/runtimes.png", caption="../report/runtimes.rst", category="Runtimes"),
    log:
        "logs/runtimes.log",
    conda:
        "../../envs/report.yaml"
    localrule: True
    shell:
        "talkgs runtimes {input} --output {output} --log {log}"
