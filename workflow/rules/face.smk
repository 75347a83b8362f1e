# Phase 2: landmarks, semantic parsing and matting (DESIGN.md, step 2).


rule landmarks:
    input:
        frames=ID.frames,
    output:
        landmarks=ID.landmarks,
    params:
        max_missing=config["landmarks"]["max_missing"],
    log:
        "logs/{identity}/landmarks.log",
    benchmark:
        "benchmarks/{identity}/landmarks.tsv"
    conda:
        "../../envs/face.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(20),
    shell:
        "talkgs landmarks --frames {input.frames} --output {output.landmarks}"
        " --max-missing {params.max_missing} --log {log}"


rule parsing:
    input:
        frames=ID.frames,
        landmarks=ID.landmarks,
    output:
        parsing=directory(ID.parsing),
        preview=report(
            ID.parsing_preview,
            caption="../report/parsing_preview.rst",
            category="Face",
            labels={"identity": "{identity}", "figure": "parsing"},
        ),
    params:
        backend=config["parsing"]["backend"],
        sam2_model=config["parsing"]["sam2_model"],
        manifest=config["weights"]["manifest"],
        weights_dir=config["weights"]["dir"],
    log:
        "logs/{identity}/parsing.log",
    benchmark:
        "benchmarks/{identity}/parsing.tsv"
    conda:
        "../../envs/face.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(PARSING_MINUTES),
    shell:
        "talkgs parsing --frames {input.frames} --landmarks {input.landmarks}"
        " --output {output.parsing} --preview {output.preview} --backend {params.backend}"
        " --sam2-model {params.sam2_model}"
        " --weights-manifest {params.manifest:q} --weights-dir {params.weights_dir:q} --log {log}"


rule matting:
    input:
        frames=ID.frames,
        parsing=ID.parsing,
    output:
        background=report(
            ID.background,
            caption="../report/background.rst",
            category="Face",
            labels={"identity": "{identity}", "figure": "background plate"},
        ),
        gt_imgs=directory(ID.gt_imgs),
        torso_imgs=directory(ID.torso_imgs),
    log:
        "logs/{identity}/matting.log",
    benchmark:
        "benchmarks/{identity}/matting.tsv"
    conda:
        "../../envs/face.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(20),
    shell:
        "talkgs matting --frames {input.frames} --parsing {input.parsing}"
        " --background {output.background} --gt-imgs {output.gt_imgs}"
        " --torso-imgs {output.torso_imgs} --log {log}"
