# Phase 5 (beside training): per-identity motion generators driven by audio (DESIGN.md, the
# talk2me family). They run when a render generates motion (render.motion: generated): the
# renders, the cross-driven renders' camera files and the tables (head-motion metrics) ask for
# them.


rule expression_generator:
    input:
        audio_features=ID.audio_features("mel"),
        au=ID.au,
        eyes=ID.eyes,
        neutral=ID.neutral,
    output:
        model=ID.expression_generator,
        summary=ID.expression_generator_summary,
        plot=report(
            ID.expressions_plot,
            caption="../report/expressions.rst",
            category="Expressions",
            labels={"identity": "{identity}", "figure": "expression generator"},
        ),
    params:
        seed=config["train"]["seed"],
    log:
        "logs/{identity}/expression_generator.log",
    benchmark:
        "benchmarks/{identity}/expression_generator.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    shell:
        "talkgs expressions --audio-features {input.audio_features} --au {input.au}"
        " --eyes {input.eyes} --neutral {input.neutral} --output {output.model}"
        " --summary {output.summary} --plot {output.plot} --seed {params.seed}"
        " --threads {threads} --log {log}"


rule pose_generator:
    input:
        audio_features=ID.audio_features("mel"),
        au=ID.au,
        eyes=ID.eyes,
        pose=ID.pose,
        expression_generator=ID.expression_generator,
    output:
        model=ID.pose_generator,
        summary=ID.pose_generator_summary,
        poses=ID.generated_poses_val,
        plot=report(
            ID.poses_plot,
            caption="../report/poses.rst",
            category="Head motion",
            labels={"identity": "{identity}", "figure": "pose generator"},
        ),
    params:
        seed=config["train"]["seed"],
    log:
        "logs/{identity}/pose_generator.log",
    benchmark:
        "benchmarks/{identity}/pose_generator.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    shell:
        "talkgs poses --audio-features {input.audio_features} --au {input.au}"
        " --eyes {input.eyes} --pose {input.pose}"
        " --expression-generator {input.expression_generator} --output {output.model}"
        " --summary {output.summary} --poses {output.poses} --plot {output.plot}"
        " --seed {params.seed} --threads {threads} --log {log}"


rule generated_poses:
    input:
        pose_generator=ID.pose_generator,
        expression_generator=ID.expression_generator,
        audio_features=AUDIO_ID.audio_features("mel"),
    output:
        ID.generated_poses("{audio_identity}"),
    log:
        "logs/{identity}/generated_poses_{audio_identity}.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    shell:
        "talkgs generate-poses --pose-generator {input.pose_generator}"
        " --expression-generator {input.expression_generator}"
        " --audio-features {input.audio_features} --output {output} --threads {threads}"
        " --log {log}"
