"""``netdsl studio``: a local web page to write, check, draw, train and watch networks.

The page (``static/``) talks JSON to :mod:`.app`; its editor features come from the language
server's own :class:`~netdsl.tools.lsp_features.Analysis` (:mod:`.editor`), training runs are
ordinary ``netdsl run`` processes writing ordinary run folders (:mod:`.trainer`), and every
request passes :mod:`.guard` (loopback hosts and origins only, files inside one folder only).
Needs ``pip install 'netdsl[web]'`` (Starlette and uvicorn).
"""
