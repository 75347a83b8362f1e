# Phase 5 (beside training): per-identity motion generators driven by audio (DESIGN.md, the
# talk2me family). The expression generator is requested explicitly for now
# (results/{identity}/motion/expression_generator.pt); it is not yet a target of rule all.


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
