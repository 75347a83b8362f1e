# Phase 3: head pose from optical flow and TalkingGaussian camera files (DESIGN.md, step 3).


rule pose:
    input:
        frames=ID.frames,
        landmarks=ID.landmarks,
        parsing=ID.parsing,
        meta=ID.meta,
    output:
        pose=ID.pose,
        train=ID.transforms_train,
        val=ID.transforms_val,
        quality=ID.pose_quality,
        plot=report(
            ID.pose_plot,
            caption="../report/pose.rst",
            category="Pose",
            labels={"identity": "{identity}", "figure": "head pose"},
        ),
    params:
        fov=config["pose"]["fov_deg"],
        smoothing="" if config["pose"]["smoothing"] else "--no-smoothing",
    log:
        "logs/{identity}/pose.log",
    benchmark:
        "benchmarks/{identity}/pose.tsv"
    conda:
        "../../envs/pose.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(8000),
        runtime=per_attempt(30),
    shell:
        "talkgs pose --frames {input.frames} --landmarks {input.landmarks}"
        " --parsing {input.parsing} --meta {input.meta} --pose {output.pose}"
        " --transforms-train {output.train} --transforms-val {output.val}"
        " --quality {output.quality} --plot {output.plot} --fov {params.fov}"
        " {params.smoothing} --log {log}"
