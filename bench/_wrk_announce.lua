-- Pieces shared by the wrk announce scripts (tracker_http.lua, tracker_private.lua), loaded with dofile from the
-- directory of the script wrk was given (wrk reads that script once per thread, each in its own Lua state).
local M = {}

-- The non-empty lines of the file named by environment variable `env` (else `default`).
function M.lines(env, default)
  local out = {}
  for line in io.lines(os.getenv(env) or default) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

-- Each wrk thread has its own Lua state: seed each one differently.
function M.seed()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

local chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

-- 12 random alphanumerics: a peer id's tail after its 8-byte client prefix.
function M.peer_id_tail()
  local id = {}
  for i = 1, 12 do
    local k = math.random(#chars)
    id[i] = chars:sub(k, k)
  end
  return table.concat(id)
end

-- A quarter of the announces come from seeders.
function M.left()
  return (math.random(4) == 1) and "0" or "1048576"
end

return M
