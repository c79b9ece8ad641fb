"""Group activities that run themselves: trivia and a group story (issue 14; README, "Trivia and stories").

data/            question banks and stories (TOML), `banks.py` loads them strictly
config.py        what an activity's `config` may hold (checked when it starts)
trivia.py,       the games as pure functions of the activity: questions, lines, scores, votes
story.py
matching.py      a spoken or typed answer matched tolerantly to an option; option buttons
board.py         the moment-to-moment state in the store: window, answers, results, progress
game.py,         the runners: resumable from the store, ending once the activity is stopped
trivia_game.py,
story_game.py
stage.py,        what a runner does to the devices (cue, say, wait until quiet, finish), and
live_stage.py    its real form over commands, live-session changes and presence
lease.py, host.py  which instance runs a game (a lease in the store), and the loop that runs them
answers.py       a participating device's side: its turns and buttons become answers
"""
