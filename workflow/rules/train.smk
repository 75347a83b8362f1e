# Phase 5–6: per-identity, per-method training (face, mouth, fuse) and rendering (DESIGN.md).
# Every method of config.yaml is trained on every identity; a method's settings travel as a
# JSON param, so changing one method reruns only that method's jobs. Memory and runtime follow
# the method's preset (talkgs.train.presets.JOB_SIZES); the slurm profile adds the GPU.


rule train_face:
    input:
        **TRAINING_INPUTS,
        audio_features=training_audio_features,
        family_inputs=family_inputs,
    output:
        model=ID.model("{method}", "face"),
        summary=ID.training_summary("{method}", "face"),
    params:
        manifest=config["weights"]["manifest"],
        weights=config["weights"]["dir"],
        root=identity_root,
        method=method_json,
        preset=config["train"]["preset"],
        backend=config["train"]["backend"],
        runtime=RUNTIME_OPTIONS,
        seed=config["train"]["seed"],
    log:
        "logs/{identity}/{method}/train_face.log",
    benchmark:
        "benchmarks/{identity}/{method}/train_face.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=method_job_size("train_mem_mb"),
        runtime=method_job_size("train_minutes"),
    shell:
        "talkgs train --stage face --identity-root {params.root} --method {wildcards.method}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime}"
        " --seed {params.seed} --threads {threads} --weights-manifest {params.manifest}"
        " --weights-dir {params.weights}"
        " --output {output.model} --summary {output.summary} --log {log}"


rule train_mouth:
    input:
        **TRAINING_INPUTS,
        audio_features=training_audio_features,
        family_inputs=family_inputs,
    output:
        model=ID.model("{method}", "mouth"),
        summary=ID.training_summary("{method}", "mouth"),
    params:
        manifest=config["weights"]["manifest"],
        weights=config["weights"]["dir"],
        root=identity_root,
        method=method_json,
        preset=config["train"]["preset"],
        backend=config["train"]["backend"],
        runtime=RUNTIME_OPTIONS,
        seed=config["train"]["seed"],
    log:
        "logs/{identity}/{method}/train_mouth.log",
    benchmark:
        "benchmarks/{identity}/{method}/train_mouth.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=method_job_size("train_mem_mb"),
        runtime=method_job_size("train_minutes"),
    shell:
        "talkgs train --stage mouth --identity-root {params.root} --method {wildcards.method}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime}"
        " --seed {params.seed} --threads {threads} --weights-manifest {params.manifest}"
        " --weights-dir {params.weights}"
        " --output {output.model} --summary {output.summary} --log {log}"


rule train_fuse:
    input:
        **TRAINING_INPUTS,
        audio_features=training_audio_features,
        family_inputs=family_inputs,
        face=ID.model("{method}", "face"),
        mouth=ID.model("{method}", "mouth"),
    output:
        model=ID.model("{method}", "fuse"),
        summary=ID.training_summary("{method}", "fuse"),
    params:
        manifest=config["weights"]["manifest"],
        weights=config["weights"]["dir"],
        root=identity_root,
        method=method_json,
        preset=config["train"]["preset"],
        backend=config["train"]["backend"],
        runtime=RUNTIME_OPTIONS,
        seed=config["train"]["seed"],
    log:
        "logs/{identity}/{method}/train_fuse.log",
    benchmark:
        "benchmarks/{identity}/{method}/train_fuse.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=method_job_size("train_mem_mb"),
        runtime=method_job_size("fuse_minutes"),
    shell:
        "talkgs train --stage fuse --identity-root {params.root} --method {wildcards.method}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime}"
        " --seed {params.seed} --threads {threads} --weights-manifest {params.manifest}"
        " --weights-dir {params.weights} --face-model {input.face}"
        " --mouth-model {input.mouth} --output {output.model} --summary {output.summary}"
        " --log {log}"


rule render:
    input:
        unpack(motion_inputs),
        **TRAINING_INPUTS,
        audio_features=training_audio_features,
        family_inputs=family_inputs,
        model=ID.model("{method}", "fuse"),
    output:
        frames=directory(ID.render_frames("{method}")),
        video=ID.render_video("{method}"),
        summary=ID.render_summary("{method}"),
    params:
        root=identity_root,
        method=method_json,
        preset=config["train"]["preset"],
        backend=config["train"]["backend"],
        runtime=RUNTIME_OPTIONS,
        motion=motion_options,
    log:
        "logs/{identity}/{method}/render.log",
    benchmark:
        "benchmarks/{identity}/{method}/render.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=method_job_size("render_mem_mb"),
        runtime=method_job_size("render_minutes"),
    shell:
        "talkgs render --identity-root {params.root} --method {wildcards.method}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime}"
        " --threads {threads} --model {input.model} --frames {output.frames}"
        " --video {output.video} --summary {output.summary} {params.motion} --log {log}"


rule render_cross:
    input:
        unpack(motion_inputs),
        **TRAINING_INPUTS,
        audio_features=training_audio_features,
        family_inputs=family_inputs,
        cross_audio_features=cross_audio_features,
        cross_audio=AUDIO_ID.audio,
        model=ID.model("{method}", "fuse"),
    output:
        video=ID.cross_video("{method}", "{audio_identity}"),
    params:
        root=identity_root,
        audio_root=audio_identity_root,
        method=method_json,
        preset=config["train"]["preset"],
        backend=config["train"]["backend"],
        runtime=RUNTIME_OPTIONS,
        motion=motion_options,
    log:
        "logs/{identity}/{method}/render_cross_{audio_identity}.log",
    benchmark:
        "benchmarks/{identity}/{method}/render_cross_{audio_identity}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=method_job_size("render_mem_mb"),
        runtime=method_job_size("render_minutes"),
    shell:
        "talkgs render --identity-root {params.root} --method {wildcards.method}"
        " --method-config {params.method:q} --preset {params.preset} --backend {params.backend}"
        " {params.runtime}"
        " --threads {threads} --model {input.model} --cross-audio {params.audio_root}"
        " --cross-video {output.video} {params.motion} --log {log}"
