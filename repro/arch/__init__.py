"""Architecture audit: layer tables (:mod:`repro.arch.layer_table`), structural diffs between
variants and against reference transcriptions (:mod:`repro.arch.archdiff`), and the
transcriptions themselves (:mod:`repro.arch.references`)."""
