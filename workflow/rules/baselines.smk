# External baselines: another code base's renders of each identity's validation frames, checked
# and aligned (frame count, offset, size; its own audio dropped), then evaluated like a method
# by the evaluate_baseline rule (talkgs.baselines, README "Comparing with other code bases").


rule baseline:
    input:
        renders=baseline_renders,
        meta=ID.meta,
    output:
        frames=directory(ID.baseline_frames("{baseline}")),
        summary=ID.baseline_summary("{baseline}"),
    params:
        offset=baseline_offset,
    log:
        "logs/{identity}/baselines/{baseline}.log",
    conda:
        "../../envs/evaluate.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    shell:
        "talkgs baseline --name {wildcards.baseline} --renders {input.renders}"
        " --meta {input.meta} --offset {params.offset} --frames {output.frames}"
        " --summary {output.summary} --log {log}"


rule baseline_cross:
    input:
        renders=baseline_cross_renders,
        meta=ID.meta,
        driver_meta=AUDIO_ID.meta,
        driver_audio=AUDIO_ID.audio,
    output:
        video=ID.baseline_cross_video("{baseline}", "{audio_identity}"),
    params:
        offset=baseline_offset,
    log:
        "logs/{identity}/baselines/{baseline}_cross_{audio_identity}.log",
    conda:
        "../../envs/evaluate.yaml"
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(30),
    shell:
        "talkgs baseline --name {wildcards.baseline} --renders {input.renders}"
        " --meta {input.meta} --offset {params.offset} --driver-meta {input.driver_meta}"
        " --driver-audio {input.driver_audio} --cross-video {output.video} --log {log}"
