"""The study (Kurach et al. 2019) audited: spaces, a resumable runner, Bayesian optimisation,
the report, and the paper's claims checked with :mod:`repro.stats`.

- :mod:`repro.study.space`: Table 1 (24 settings) and Table 2 (ranges); variant globs.
- :mod:`repro.study.spec`: the study's specification (``study.json``).
- :mod:`repro.study.runner`: train and score every run through the executor; resumes.
- :mod:`repro.study.bo`: Table 2's GP Bayesian optimisation (Optuna), one search per n_dis, state in a
  journal file.
- :mod:`repro.study.results`: one row per run and per trial (``results.json``).
- :mod:`repro.study.report`: ``study.md``, figures and ``dvc plots`` CSVs.
- :mod:`repro.study.claims`: claims files and their verdicts.
- :mod:`repro.study.seedstats`: the paper's statistics (top 5%, its spread, settings to a threshold), per seed.
- :mod:`repro.study.needs`: the presets a study must train for a claims file to be testable.
- :mod:`repro.study.plan`: run count, generator steps and discriminator updates, and device-hours
  before a study runs (the executor's cost model).
- :mod:`repro.study.tracking`: one MLflow parent run per study, a nested run per trial.

Modules load on use (torch, Optuna and matplotlib are imported only by what needs them).
"""
