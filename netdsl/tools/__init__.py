"""Front ends: the CLI, the language server, summary, FLOPs, diagrams, plots and the views of
plugins and runs. They translate between a person (or an editor) and the layers below.
"""
