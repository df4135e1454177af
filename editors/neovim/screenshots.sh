#!/usr/bin/env bash
# Remake docs/images/nvim-*.png from a real Neovim session: Neovim runs `netdsl lsp` inside tmux,
# the pane is captured with its colours (tmux capture-pane -e), turned into HTML by `aha` and
# photographed by headless Chromium. Needs nvim (0.7+), tmux, aha and chromium on PATH.
#   editors/neovim/screenshots.sh [path/to/netdsl]
set -euo pipefail
cd "$(dirname "$0")/../.."
export NETDSL_LSP="${1:-$(command -v netdsl)}"
work=$(mktemp -d)
trap 'tmux -L netdsl-shots kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/init.lua" <<LUA
vim.opt.swapfile = false
vim.opt.termguicolors = true
vim.opt.number = true
vim.opt.completeopt = { "menuone", "noinsert" }
dofile("$PWD/editors/neovim/netdsl.lua")
vim.cmd("highlight SignColumn guibg=NONE")
vim.cmd("highlight NormalFloat guibg=#262a33 guifg=#e0e0e0")
vim.cmd("highlight Pmenu guibg=#262a33 guifg=#e0e0e0")
vim.cmd("highlight PmenuSel guibg=#3e6bb3 guifg=#ffffff")
LUA
printf '%s\n' '# A small convnet for MNIST' 'dataset: mnist' 'optimizer: adam(learning_rate=1e-3)' 'epochs: 5' '' \
  'conv2d 32 3 relux -> maxpool 2' '  -> conv2d 64 3 relu -> maxpol 2' '  -> flatten -> dropout 0.25' \
  '  -> dense 10 softmax' > "$work/model.net"
sed -e 's/relux/relu/; s/maxpol 2/maxpool 2/' "$work/model.net" > "$work/valid.net"

shot() {  # shot NAME WIDTH HEIGHT: the pane as docs/images/nvim-NAME.png
  tmux -L netdsl-shots capture-pane -t nv -e -p | aha --black --title netdsl \
    | sed 's#<pre>#<pre style="font-family:DejaVu Sans Mono,monospace;font-size:14px;line-height:1.25;margin:8px">#' \
    > "$work/$1.html"
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$2,$3" \
    --screenshot="$PWD/docs/images/nvim-$1.png" "file://$work/$1.html" 2>/dev/null
}
session() {  # session COLS ROWS FILE: a fresh Neovim, given time to start the server and check
  tmux -L netdsl-shots kill-server 2>/dev/null || true
  tmux -L netdsl-shots new-session -d -s nv -x "$1" -y "$2" "cd $work && nvim -u init.lua $3"
  sleep 10
}
# diagnostics as you type, and completion of a layer name in context
session 150 20 model.net
tmux -L netdsl-shots send-keys -t nv '8G$a -> ba'; sleep 1
tmux -L netdsl-shots send-keys -t nv C-x C-o; sleep 3
shot diagnostics 1290 380
# hover: the layer in this program (shape, parameters), then its reference
session 110 20 valid.net
tmux -L netdsl-shots send-keys -t nv '7G7|'; sleep 0.5
tmux -L netdsl-shots send-keys -t nv ':lua vim.lsp.buf.hover()' Enter; sleep 0.5
tmux -L netdsl-shots send-keys -t nv ':echo' Enter; sleep 3
shot hover 950 360
echo "docs/images/nvim-diagnostics.png docs/images/nvim-hover.png"
