# Phase 1: the embedded demo source and the ingest stage (DESIGN.md, step 1).


rule demo_video:
    output:
        video="results/_demo/demo.mp4",
        truth="results/_demo/truth.json",
        landmarks="results/_demo/truth_landmarks.npz",
    params:
        seed=config["demo"]["seed"],
        duration=config["demo"]["duration_s"],
    log:
        "logs/_demo/demo_video.log",
    benchmark:
        "benchmarks/_demo/demo_video.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(2000),
        runtime=per_attempt(15),
    shell:
        "talkgs demo --video {output.video} --truth {output.truth}"
        " --seed {params.seed} --duration {params.duration} --log {log}"


rule ingest:
    input:
        video=source_video,
    output:
        frames=directory(ID.frames),
        audio=ID.audio,
        preview=report(
            ID.ingest_preview,
            caption="../report/ingest_preview.rst",
            category="Ingest",
            labels={"identity": "{identity}"},
        ),
        meta=ID.meta,
    params:
        size=config["ingest"]["size"],
        crop_scale=config["ingest"]["crop_scale"],
    log:
        "logs/{identity}/ingest.log",
    benchmark:
        "benchmarks/{identity}/ingest.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(20),
    shell:
        "talkgs ingest {input.video:q} --frames {output.frames} --audio {output.audio}"
        " --preview {output.preview} --meta {output.meta}"
        " --size {params.size} --crop-scale {params.crop_scale} --log {log}"
