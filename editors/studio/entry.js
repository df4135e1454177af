// The pieces of CodeMirror 6 the studio page uses, exported as the global `CM`.
export { EditorView, basicSetup } from "codemirror";
export { EditorState, StateEffect, StateField } from "@codemirror/state";
export { keymap, hoverTooltip, Decoration, ViewPlugin } from "@codemirror/view";
export { linter, lintGutter, setDiagnostics, forceLinting } from "@codemirror/lint";
export { autocompletion } from "@codemirror/autocomplete";
export { StreamLanguage, HighlightStyle, syntaxHighlighting } from "@codemirror/language";
export { tags } from "@lezer/highlight";
