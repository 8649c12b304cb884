"""Prefect blocks: provider settings and credentials (`prefect block register -m blocks`).

Only concrete blocks are exported here, so registering the module registers no base class.
"""

from blocks.local_speech import LocalSpeech
from blocks.maas_ele import MaasEle
from blocks.maas_nar import MaasNar
from blocks.maas_speech import MaasASpeech, MaasOSpeech
from blocks.narration_storage import NarrationStorage
from blocks.openai_speech import OpenAISpeech

__all__ = ["LocalSpeech", "MaasASpeech", "MaasEle", "MaasNar", "MaasOSpeech", "NarrationStorage", "OpenAISpeech"]
