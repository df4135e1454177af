-- netdsl in Neovim 0.7 to 0.9 (0.10+ can use the shorter snippet in README.md, "Editors"):
-- `.net` files get the `netdsl` filetype, start `netdsl lsp` and use it for completion (<C-x><C-o>).
--   nvim -u editors/neovim/netdsl.lua model.net     (or `dofile` it from your init.lua)
vim.g.do_filetype_lua = 1 -- 0.7 only: let vim.filetype.add work
vim.filetype.add({ extension = { net = "netdsl" } })
vim.api.nvim_create_autocmd("FileType", {
  pattern = "netdsl",
  callback = function(args)
    local client = vim.lsp.start_client({
      name = "netdsl",
      cmd = { vim.env.NETDSL_LSP or "netdsl", "lsp" },
      root_dir = vim.fn.getcwd(),
    })
    vim.lsp.buf_attach_client(args.buf, client)
    vim.bo[args.buf].omnifunc = "v:lua.vim.lsp.omnifunc"
  end,
})
vim.diagnostic.config({ update_in_insert = true, float = { border = "rounded" } })
