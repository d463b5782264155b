# An idle console shell ends after 15 minutes (ac-shell-timeout; AC-11,
# AC-12), and cannot be told otherwise.
TMOUT=900
readonly TMOUT
export TMOUT
