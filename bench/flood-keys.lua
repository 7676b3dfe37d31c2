-- Every request a new key: a get_data answer filtered by a list of ~3.9 kB of countries that
-- match nothing. Used by bench/flood-keys.sh.
local n = 0
request = function()
  n = n + 1
  local parts = {}
  for i = 1, 60 do
    parts[i] = string.format("%08d-%02d-%s", n, i, string.rep("x", 52))
  end
  local path = "/api/get_data?model=hourly&group_by=archive&country=" .. table.concat(parts, ",")
  return wrk.format(nil, path)
end
