print("orthocxr")
