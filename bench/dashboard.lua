-- wrk script: the shipped dashboard's requests, in turn (the daily one in the original's zones).
local paths = {
  "/api/get_data?model=hourly&group_by=archive",
  "/api/get_data?model=hourly&group_by=category",
  "/api/get_data?model=hourly&group_by=country",
  "/api/get_global_sum?model=hourly&time_group=month",
  "/api/get_todays_downloads?model=hourly&timezone=UTC",
  "/api/get_todays_downloads?model=hourly&timezone=America/New_York",
  "/api/get_todays_downloads?model=hourly&timezone=Europe/Berlin",
  "/api/get_todays_downloads?model=hourly&timezone=Asia/Kolkata",
  "/api/get_todays_downloads?model=hourly&timezone=Australia/Sydney",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
