"""The official lm-evaluation-harness task functions, re-exported for the local task files here."""

from lm_eval.tasks.bbq.utils import agg_accuracy_amb as bbq_agg_accuracy_amb  # noqa: F401
from lm_eval.tasks.bbq.utils import agg_accuracy_disamb as bbq_agg_accuracy_disamb  # noqa: F401
from lm_eval.tasks.bbq.utils import agg_amb_bias_scores as bbq_agg_amb_bias_scores  # noqa: F401
from lm_eval.tasks.bbq.utils import agg_disamb_bias_scores as bbq_agg_disamb_bias_scores  # noqa: F401
from lm_eval.tasks.bbq.utils import doc_to_choice as bbq_doc_to_choice  # noqa: F401
from lm_eval.tasks.bbq.utils import doc_to_target as bbq_doc_to_target  # noqa: F401
from lm_eval.tasks.bbq.utils import process_docs as bbq_process_docs  # noqa: F401
from lm_eval.tasks.bbq.utils import process_results_multiple_choice as bbq_process_results_multiple_choice  # noqa: F401
from lm_eval.tasks.crows_pairs.utils import doc_to_choice, process_results  # noqa: F401
