# Phase 4: features per identity: neutral frame, eyes, action units, audio (DESIGN.md, step 4).


rule neutral:
    input:
        landmarks=ID.landmarks,
        pose=ID.pose,
    output:
        ID.neutral,
    log:
        "logs/{identity}/neutral.log",
    benchmark:
        "benchmarks/{identity}/neutral.tsv"
    conda:
        "../../envs/features.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    shell:
        "talkgs neutral --landmarks {input.landmarks} --pose {input.pose} --output {output}"
        " --log {log}"


rule eyes:
    input:
        ID.landmarks,
    output:
        eyes=ID.eyes,
        blinks=ID.blinks,
    log:
        "logs/{identity}/eyes.log",
    benchmark:
        "benchmarks/{identity}/eyes.tsv"
    conda:
        "../../envs/features.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    shell:
        "talkgs eyes --landmarks {input} --output {output.eyes} --blinks {output.blinks}"
        " --log {log}"


rule au:
    input:
        unpack(au_inputs),
    output:
        csv=ID.au,
        plot=report(
            ID.au_plot,
            caption="../report/au.rst",
            category="Action units",
            labels={"identity": "{identity}", "figure": "action units"},
        ),
    params:
        backend=config["au"]["backend"],
        sources=au_source_arguments,
        leading_space="" if config["au"]["leading_space"] else "--no-leading-space",
    log:
        "logs/{identity}/au.log",
    benchmark:
        "benchmarks/{identity}/au.tsv"
    conda:
        "../../envs/features.yaml"
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(10),
    shell:
        "talkgs au --meta {input.meta} {params.sources} --backend {params.backend}"
        " {params.leading_space} --output {output.csv} --plot {output.plot} --log {log}"


rule audio_features:
    input:
        audio=ID.audio,
        meta=ID.meta,
    output:
        "results/{identity}/features/{audio_file}",
    params:
        manifest=config["weights"]["manifest"],
        weights=config["weights"]["dir"],
        extractor=lambda wildcards: AUDIO_EXTRACTOR_OF_FILE[wildcards.audio_file],
    wildcard_constraints:
        audio_file="|".join(re.escape(name) for name in AUDIO_EXTRACTOR_OF_FILE),
    log:
        "logs/{identity}/audio_{audio_file}.log",
    benchmark:
        "benchmarks/{identity}/audio_{audio_file}.tsv"
    conda:
        "../../envs/features.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(30),
    shell:
        "talkgs audio --audio {input.audio} --meta {input.meta} --extractor {params.extractor}"
        " --output {output} --weights-manifest {params.manifest} --weights-dir {params.weights}"
        " --log {log}"
