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
        **TRAINING_PARAMS,
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
        train_command("face")


rule train_mouth:
    input:
        **TRAINING_INPUTS,
        audio_features=training_audio_features,
        family_inputs=family_inputs,
    output:
        model=ID.model("{method}", "mouth"),
        summary=ID.training_summary("{method}", "mouth"),
    params:
        **TRAINING_PARAMS,
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
        train_command("mouth")


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
        **TRAINING_PARAMS,
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
        train_command("fuse", " --face-model {input.face} --mouth-model {input.mouth}")


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
        **RENDER_PARAMS,
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
        render_command(" --frames {output.frames} --video {output.video} --summary {output.summary}")


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
        **RENDER_PARAMS,
        audio_root=audio_identity_root,
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
        render_command(" --cross-audio {params.audio_root} --cross-video {output.video}")
