"""labclip_lib: reproduce and extend two papers on CLIP's attribute-binding failure.

The folders follow the pipeline; a module imports only from its own layer or a lower one:

=================  ===========================================================================
``runtime``,       devices, seeds, threads, progress, worker processes; atomic checksummed
``storage``,       storage and compute-or-load caches; the metrics; every number quoted from the
``metrics``,       papers, with its provenance
``published``
``world/``         scenes -> sampling -> render -> captions -> splits -> cached scene sets
``embed/``         the model protocol, the Hugging Face adapter, model-aware embedding caches
``organisms/``     small CLIPs trained from scratch: config -> networks -> data -> training ->
                   model -> store
``models``         ``load_model``: any model by hub id or directory (pretrained CLIP or organism)
``analysis/``      cross-modal binding, probes of each modality, profiles, conjunctive search,
                   geometry of the joint space
``alignment/``     LABCLIP: loss -> estimator -> aligned model -> fine-tuning -> comparisons
``book/``          plots, tables, widgets, glued numbers, chapter helpers, the book's tooling
=================  ===========================================================================
"""

__version__ = "0.1.0"
