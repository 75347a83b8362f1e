# Phase 8: the paper tables across identities and methods, and the runtimes figure (DESIGN.md;
# `snakemake --report` builds the HTML report from the report() outputs of every phase).


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
