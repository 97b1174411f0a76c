# aeflow: physics data to paper figures with autoencoders.
# The table of contents; helpers live in workflow/rules/common.smk, logic in src/aeflow.

from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless the user names config file(s) with --configfile: those then
# replace it rather than being merged into it (a paper run must not inherit simulator keys).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/generative.smk"
include: "workflow/rules/figures.smk"


rule all:
    default_target: True
    input:
        PLAN.targets(),
        plan.TIMING,
